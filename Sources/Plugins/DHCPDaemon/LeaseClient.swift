import DHCPIPAM
import CLinux
import CNI
import DHCP
import Glibc
import IPAddressing
import LinuxSystem
import Logging
import NetNS

/// The daemon's settings that shape every client (its flags).
public struct ClientTiming: Sendable {
    /// `-timeout`: the longest wait for one reply before sending again.
    public var replyTimeout: Double = 10
    /// `-resendmax`: the longest gap between retransmissions.
    public var resendMax: Double = 62
    /// `-resendtimeout`: how long an ADD waits for its lease.
    public var acquireTimeout: Double = 208
    /// `-broadcast`: ask servers to broadcast replies.
    public var broadcast = false
    /// How often a bound client looks whether its link and namespace are still there.
    public var watchInterval: Double = 10
    public init() {}
}

/// One attachment's DHCP client, on a thread of its own: acquires the lease (or resumes a saved
/// one with INIT-REBOOT), then renews at T1 (unicast), rebinds at T2 (broadcast), and at expiry
/// takes the address off and the link down. `stop(release:)` ends it and sends DHCPRELEASE.
final class LeaseClient: @unchecked Sendable {
    enum Phase: Sendable { case acquiring, bound(DHCPLease), failed(String), ended }

    let id: DaemonRequest.Identity
    let namespacePath: String
    let config: DHCPConfig
    let record: (config: JSONValue, args: String)
    let timing: ClientTiming
    let store: LeaseStore
    var logger: Logger

    private let condition = Condition()
    private var _phase = Phase.acquiring
    private var finished = false
    private var releaseOnStop = false
    /// A pipe: written once to stop the client, readable from then on (the thread polls it).
    private let stopFD: Int32
    private let stopWriteFD: Int32

    init(id: DaemonRequest.Identity, namespacePath: String, config: DHCPConfig, record: (config: JSONValue, args: String),
         timing: ClientTiming, store: LeaseStore, logger: Logger) {
        (self.id, self.namespacePath, self.config, self.record, self.timing, self.store) = (id, namespacePath, config, record, timing, store)
        self.logger = logger
        self.logger[metadataKey: "containerID"] = "\(id.containerID)"
        self.logger[metadataKey: "ifName"] = "\(id.ifName)"
        self.logger[metadataKey: "network"] = "\(id.network)"
        var fds: [Int32] = [-1, -1]
        if csystem_pipe_cloexec(&fds) != 0 { fds = [-1, -1] }
        (stopFD, stopWriteFD) = (fds[0], fds[1])
    }

    /// Called on the client's thread when it has ended by itself (failed, expired, pod gone).
    var onEnd: (@Sendable (LeaseClient) -> Void)?

    deinit { close(stopFD); close(stopWriteFD) }

    var phase: Phase { condition.locked { _phase } }

    func start(resuming lease: DHCPLease? = nil) {
        guard stopFD >= 0 else {
            condition.signal { _phase = .failed("no pipe for the client: \(SystemError("pipe"))"); finished = true }
            return
        }
        if let lease { condition.signal { _phase = .bound(lease) } }
        startThread { [self] in
            run(resuming: lease)
            let stopped = condition.locked { releaseOnStop } || stopRequested()
            condition.signal {
                if case .acquiring = _phase { _phase = .failed("the client ended") }
                finished = true
            }
            if !stopped { onEnd?(self) }
        }
    }

    /// Waits for the first lease; nil with the reason when there is none by `deadline`.
    func awaitLease(until deadline: Double) -> Result<DHCPLease, CNIError> {
        _ = condition.wait(until: deadline) { if case .acquiring = _phase { return false } else { return true } }
        switch phase {
        case .bound(let l): return .success(l)
        case .failed(let why): return .failure(CNIError(.tryAgainLater, "dhcp: no lease for \(id.ifName)", details: why))
        case .acquiring, .ended: return .failure(CNIError(.tryAgainLater, "dhcp: no lease for \(id.ifName)", details: "the client stopped"))
        }
    }

    /// Ends the client (and, when `release`, sends DHCPRELEASE first); returns once the thread is done.
    func stop(release: Bool) {
        condition.signal { releaseOnStop = releaseOnStop || release }   // a DEL's release is never undone
        var one: UInt8 = 1
        _ = write(stopWriteFD, &one, 1)
        _ = condition.wait(until: .infinity) { finished }
    }

    private func set(_ p: Phase) { condition.signal { _phase = p } }
    private var shouldRelease: Bool { condition.locked { releaseOnStop } }

    // MARK: the thread

    private func run(resuming saved: DHCPLease?) {
        let sockets: LinkSockets
        do {
            sockets = try LinkSockets(namespace: NetworkNamespace(path: namespacePath), link: id.ifName)
        } catch {
            logger.warning("cannot reach the link", metadata: ["error": "\(error)"])
            set(.failed("cannot reach \(id.ifName) in \(namespacePath): \(error)"))
            if saved != nil { store.remove(id) }  // the pod is gone: nothing to resume again
            return
        }
        let messages = DHCPClientMessages(mac: sockets.mac, clientID: id.clientID, hostName: config.hostName,
                                          parameterRequestList: config.parameterRequestList, provided: config.provided,
                                          broadcast: timing.broadcast)
        let session = Session(client: self, sockets: sockets, messages: messages)
        var lease: DHCPLease
        if let saved {
            guard let l = session.reboot(saved) else { return finish(session, nil) }
            lease = l
        } else {
            switch session.acquire(until: MonotonicClock.seconds() + timing.acquireTimeout) {
            case .lease(let l): lease = l
            case .stopped: return finish(session, nil)
            case .failed(let why):
                logger.warning("no lease", metadata: ["reason": "\(why)"])
                set(.failed(why))
                return
            }
        }
        bound(lease, previous: nil, sockets)
        while let next = session.maintain(lease) {
            bound(next, previous: lease, sockets)
            lease = next
        }
        finish(session, lease)
    }

    /// Records and announces a lease (the session has already moved the link to a changed address).
    func bound(_ lease: DHCPLease, previous: DHCPLease?, _ sockets: LinkSockets) {
        if let previous, previous.address != lease.address {
            logger.warning("address changed", metadata: ["from": "\(previous.address)", "to": "\(lease.address)"])
        }
        do {
            try store.save(LeaseRecord(request: id, config: record.config, args: record.args, lease: lease))
        } catch {
            logger.error("cannot save the lease", metadata: ["error": "\(error)"])
        }
        logger.info(previous == nil ? "bound" : "renewed",
                    metadata: ["address": "\(lease.address)", "server": "\(lease.server?.description ?? "?")",
                               "lease": "\(lease.leaseTime)s"])
        set(.bound(lease))
    }

    /// The end: on a stop with release, DHCPRELEASE (unicast; broadcast if that cannot be sent)
    /// and the record removed.
    private func finish(_ session: Session, _ lease: DHCPLease?) {
        if shouldRelease {
            if let lease, lease.expiresAt > WallClock.seconds() { session.release(lease) }
            store.remove(id)
            logger.info("released", metadata: ["address": "\(lease?.address.description ?? "-")"])
        }
        set(.ended)
    }

    func stopRequested() -> Bool {
        var pfd = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }
    var stopDescriptor: Int32 { stopFD }
}
