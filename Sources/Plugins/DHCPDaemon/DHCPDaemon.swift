import DHCPIPAM
import CLinux
import CNI
import DHCP
import Glibc
import LinuxSystem
import Logging
import Synchronization

/// `dhcp daemon`: holds every attachment's lease client, answers the plugin over a unix socket
/// (root only: 0600, its directory 0700; or the socket systemd passes), keeps leases in a state
/// directory so a restarted daemon resumes them.
public final class DHCPDaemon: @unchecked Sendable {
    public struct Options: Sendable {
        public var socketPath = DHCPConfig.defaultSocketPath
        public var pidFile = ""
        /// Prepended to every CNI_NETNS (a daemon in a container sees the host's /proc or /run
        /// under a prefix); a path that leaves it is refused.
        public var hostPrefix = ""
        public var stateDirectory = "/var/lib/cni/dhcp"
        public var timing = ClientTiming()
        public init() {}
    }

    let options: Options
    let logger: Logger
    let store: LeaseStore
    private let clients = Mutex<[String: LeaseClient]>([:])

    public init(options: Options, logger: Logger) throws(SystemError) {
        (self.options, self.logger) = (options, logger)
        store = try LeaseStore(directory: options.stateDirectory)
    }

    // MARK: serving

    /// The listening socket: systemd's (LISTEN_FDS) or a new one at `socketPath`. A socket file
    /// another daemon answers on is an error; a stale one is replaced.
    public func listen(environment: [String: String]) throws(SystemError) -> (fd: Int32, created: Bool) {
        if environment["LISTEN_PID"] == String(getpid()), let n = environment["LISTEN_FDS"].flatMap(Int.init), n >= 1 {
            _ = fcntl(3, F_SETFD, FD_CLOEXEC)
            return (3, false)
        }
        let path = options.socketPath
        try FileSystem.makeDirectories(FileSystem.directoryName(path), mode: 0o700)
        if FileSystem.exists(path) {
            if (try? DaemonSocket.exchange(path: path, Array(#"{"command":"STATUS"}"#.utf8), timeout: 1)) != nil {
                throw SystemError("bind", errno: EADDRINUSE, subject: "\(path) (another dhcp daemon answers there)")
            }
            try FileSystem.remove(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var addr = try DaemonSocket.address(path)
        let old = umask(0o177)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0 else { let e = SystemError("bind", subject: path); close(fd); throw e }
        chmod(path, 0o600)
        guard Glibc.listen(fd, 128) == 0 else { let e = SystemError("listen", subject: path); close(fd); throw e }
        return (fd, true)
    }

    /// Resumes the saved leases, then serves connections (a thread each: an ADD waits for its
    /// lease) until SIGTERM or SIGINT, when the socket file and pid file are removed. Leases
    /// are kept: the next daemon resumes them.
    public func serve(fd listener: Int32, created: Bool) -> Never {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        if !options.pidFile.isEmpty { try? FileSystem.writeAtomically(options.pidFile, Array("\(getpid())\n".utf8), mode: 0o644) }
        // Five descriptors per attachment: the soft limit (often 1024) goes up to the hard one.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        resumeSaved()
        let (socketPath, pidFile, log) = (options.socketPath, options.pidFile, logger)
        startThread {
            var s = sigset_t()
            sigemptyset(&s)
            sigaddset(&s, SIGTERM)
            sigaddset(&s, SIGINT)
            var sig: Int32 = 0
            while sigwait(&s, &sig) != 0 {}
            log.info("stopping on signal \(sig); leases are kept for the next daemon")
            if created { unlink(socketPath) }
            if !pidFile.isEmpty { unlink(pidFile) }
            _exit(0)
        }
        logger.info("listening", metadata: ["socket": "\(options.socketPath)", "state": "\(options.stateDirectory)"])
        acceptLoop(listener)
        _exit(0)
    }

    /// Answers connections until the listening socket is closed: a thread each (an ADD waits
    /// for its lease while others are served).
    func acceptLoop(_ listener: Int32) {
        while true {
            let conn = accept(listener, nil, nil)
            if conn < 0 {
                if errno == EBADF || errno == EINVAL || errno == ENOTSOCK { return }
                if errno != EINTR { usleep(10_000) }
                continue
            }
            _ = fcntl(conn, F_SETFD, FD_CLOEXEC)
            startThread { [self] in
                defer { close(conn) }
                let reply = handle(bytes: (try? FileSystem.readAll(fd: conn)) ?? [])
                try? FileSystem.writeAll(fd: conn, reply.json.serialized())
            }
        }
    }

    func resumeSaved() {
        for record in store.all() {
            let id = record.request
            guard let config = try? DHCPConfig(NetConf(json: record.config), args: CNIArgs(parsing: record.args)),
                  let path = try? namespacePath(id.netns) else { store.remove(id); continue }
            let client = LeaseClient(id: id, namespacePath: path, config: config, record: (record.config, record.args),
                                     timing: options.timing, store: store, logger: logger)
            client.onEnd = { [weak self] ended in self?.forget(ended) }
            clients.withLock { $0[id.clientID] = client }
            logger.info("resuming", metadata: ["containerID": "\(id.containerID)", "ifName": "\(id.ifName)",
                                               "address": "\(record.lease.address)"])
            client.start(resuming: record.lease)
        }
    }

    // MARK: requests

    func handle(bytes: [UInt8]) -> DaemonReply {
        do {
            let request = try DaemonRequest(json: try JSONValue.parse(bytes))
            return try handle(request)
        } catch let e as CNIError {
            return .failure(e)
        } catch {
            return .failure(CNIError(.decodingFailure, "dhcp daemon: bad request", details: "\(error)"))
        }
    }

    func handle(_ r: DaemonRequest) throws(CNIError) -> DaemonReply {
        if r.command == .status { return .done }
        let conf = try NetConf(json: r.config)
        let id = DaemonRequest.Identity(containerID: r.containerID, network: conf.name, ifName: r.ifName, netns: r.netns)
        switch r.command {
        case .add: return try add(r, conf, id)
        case .del:
            if let c = clients.withLock({ $0.removeValue(forKey: id.clientID) }) {
                c.stop(release: true)   // releases and removes its record
            } else {
                store.remove(id)        // a record no client holds (never resumed)
            }
            return .done
        case .check:
            guard let c = clients.withLock({ $0[id.clientID] }), case .bound(let lease) = c.phase else {
                throw CNIError(.tryAgainLater, "dhcp: no lease held for \(id.clientID)")
            }
            if let prev = try conf.prevResult(), !prev.ips.isEmpty, !prev.ips.contains(where: { $0.address == lease.address }) {
                throw CNIError(.invalidNetworkConfig, "dhcp: the lease's address \(lease.address) is not in prevResult")
            }
            return .done
        case .gc:
            let valid = try conf.validAttachments()
            // This network's clients whose attachment the runtime no longer has: released.
            let stale = clients.withLock { all in
                let keys = all.filter { _, c in
                    c.id.network == conf.name && !valid.contains(Attachment(containerID: c.id.containerID, ifname: c.id.ifName))
                }.keys
                return keys.compactMap { all.removeValue(forKey: $0) }
            }
            for c in stale { c.stop(release: true) }
            return .done
        case .status, .version: return .done
        }
    }

    func add(_ r: DaemonRequest, _ conf: NetConf, _ id: DaemonRequest.Identity) throws(CNIError) -> DaemonReply {
        let config = try DHCPConfig(conf, args: CNIArgs(parsing: r.args))
        guard !r.netns.isEmpty else { throw CNIError(.invalidEnvironment, "dhcp: CNI_NETNS is required for ADD") }
        guard !r.ifName.isEmpty else { throw CNIError(.invalidEnvironment, "dhcp: CNI_IFNAME is required for ADD") }
        let path = try namespacePath(r.netns)
        // The attachment's client, unless it is for another namespace (a sandbox made again under
        // the same container ID without a DEL): that one is ended and a new one started.
        let fresh = LeaseClient(id: id, namespacePath: path, config: config, record: (r.config, r.args),
                                timing: options.timing, store: store, logger: logger)
        fresh.onEnd = { [weak self] ended in self?.forget(ended) }
        var replaced: LeaseClient?
        let client: LeaseClient = clients.withLock { all in
            if let existing = all[id.clientID] {
                switch existing.phase {
                case .acquiring, .bound:
                    if existing.namespacePath == path { return existing }
                    replaced = existing
                case .failed, .ended: break
                }
            }
            all[id.clientID] = fresh
            return fresh
        }
        replaced?.stop(release: false)
        if client === fresh { fresh.start() }
        switch client.awaitLease(until: MonotonicClock.seconds() + options.timing.acquireTimeout + 5) {
        case .success(let lease): return .result(try lease.result(priority: config.priority).json(version: DaemonSocket.resultVersion))
        case .failure(let e):
            clients.withLock { all in if all[id.clientID] === client { all[id.clientID] = nil } }
            client.stop(release: true)   // a lease that came just too late is given back
            throw e
        }
    }

    /// A client that ended by itself leaves the map (and its pipe is closed with it).
    func forget(_ client: LeaseClient) {
        clients.withLock { all in if all[client.id.clientID] === client { all[client.id.clientID] = nil } }
    }

    /// `hostPrefix + netns`, refused when `..` would take it outside the prefix.
    func namespacePath(_ netns: String) throws(CNIError) -> String {
        let parts = netns.split(separator: "/", omittingEmptySubsequences: true)
        guard netns.hasPrefix("/"), !parts.contains("..") else {
            throw CNIError(.invalidEnvironment, "dhcp: CNI_NETNS \"\(netns)\" must be an absolute path without \"..\"")
        }
        let prefix = options.hostPrefix.hasSuffix("/") ? String(options.hostPrefix.dropLast()) : options.hostPrefix
        return prefix + "/" + parts.joined(separator: "/")
    }
}
