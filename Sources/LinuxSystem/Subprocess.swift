import CSystem
import Glibc

/// Runs a program to completion: feeds it stdin, collects stdout, and lets its stderr through to
/// ours (or collects it). Synchronous, no threads: one poll loop.
public enum Subprocess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        /// Collected only when asked for; otherwise it went to our stderr.
        public var stderr: [UInt8]
        /// The child's CPU time (user + system), in seconds.
        public var cpuSeconds: Double = 0
        /// The child's peak resident set size, in KiB.
        public var maxRSSKiB: Int = 0
        public var succeeded: Bool { status == 0 }
    }

    /// Starts `path` with `arguments` (argv[1...]) and exactly `environment` ("K=V" strings).
    /// A program that is being written right now (ETXTBSY) is retried for up to ~2 s, as libcni does.
    public static func run(_ path: String, arguments: [String] = [], environment: [String],
                           stdin: [UInt8] = [], captureStderr: Bool = false) throws(SystemError) -> Output {
        var delay: UInt32 = 20_000
        var attempt = 0
        while true {
            do {
                return try runOnce(path, arguments: arguments, environment: environment, stdin: stdin,
                                   captureStderr: captureStderr)
            } catch let e where e.errno == ETXTBSY && attempt < 7 {
                attempt += 1
                usleep(delay)
                delay *= 2
            }
        }
    }

    static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard csystem_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe2") }
        return (fds[0], fds[1])
    }

    static func runOnce(_ path: String, arguments: [String], environment: [String], stdin input: [UInt8],
                        captureStderr: Bool) throws(SystemError) -> Output {
        let inPipe = try pipe()
        let outPipe = try pipe()
        let errPipe = captureStderr ? try pipe() : nil
        var openFDs = [inPipe.read, inPipe.write, outPipe.read, outPipe.write]
        if let e = errPipe { openFDs += [e.read, e.write] }
        defer { for fd in openFDs where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe.read, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe.write, 1)
        if let e = errPipe { posix_spawn_file_actions_adddup2(&actions, e.write, 2) }

        // We ignore SIGPIPE (a plugin may exit without reading its stdin); the child must not inherit that.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        signal(SIGPIPE, SIG_IGN)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }

        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw SystemError("exec", errno: rc, subject: path) }

        // Our copies of the child's ends must close so that EOF arrives.
        close(inPipe.read); openFDs[0] = -1
        close(outPipe.write); openFDs[3] = -1
        if let e = errPipe { close(e.write); openFDs[5] = -1 }

        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var written = 0
        var writeFD: Int32 = inPipe.write
        // Non-blocking, so that a write never waits on a child that is itself waiting for us to
        // read its stdout.
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
        if input.isEmpty { close(writeFD); openFDs[1] = -1; writeFD = -1 }
        var readFDs: [Int32] = [outPipe.read] + (errPipe.map { [$0.read] } ?? [])
        // Uninitialised: the kernel fills what it reads, and untouched pages stay unmapped.
        var buf = [UInt8](unsafeUninitializedCapacity: 65536) { _, count in count = 65536 }

        while writeFD >= 0 || !readFDs.isEmpty {
            var pfds = readFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if writeFD >= 0 { pfds.append(pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)) }
            let n = poll(&pfds, nfds_t(pfds.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("poll")
            }
            for p in pfds where p.revents != 0 {
                if p.fd == writeFD {
                    let w = input.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress! + written, $0.count - written) }
                    if w > 0 { written += w }
                    if w < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if w < 0 || written == input.count {
                        close(writeFD); openFDs[1] = -1; writeFD = -1
                    }
                } else {
                    let r = buf.withUnsafeMutableBytes { Glibc.read(p.fd, $0.baseAddress, $0.count) }
                    if r < 0 && errno == EINTR { continue }
                    if r <= 0 {
                        readFDs.removeAll { $0 == p.fd }
                    } else if p.fd == outPipe.read {
                        stdout.append(contentsOf: buf[0..<r])
                    } else {
                        stderr.append(contentsOf: buf[0..<r])
                    }
                }
            }
        }

        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw SystemError("wait4", subject: path) }
        }
        // WIFEXITED / WEXITSTATUS, or 128 + signal as shells report it.
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return Output(status: code, stdout: stdout, stderr: stderr,
                      cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime), maxRSSKiB: usage.ru_maxrss)
    }
}

/// The process environment as "K=V" strings and as a dictionary.
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        guard let base = csystem_environ() else { return [:] }
        var count = 0
        while base[count] != nil { count += 1 }
        var out = [String: String](minimumCapacity: count)
        // Bytes, not Characters: splitting on '=' needs no grapheme breaking (a hot spot of
        // every plugin's start-up when it was done on String).
        for i in 0..<count {
            let bytes = UnsafeRawPointer(base[i]!).assumingMemoryBound(to: UInt8.self)
            let len = strlen(base[i]!)
            let buf = UnsafeBufferPointer(start: bytes, count: len)
            guard let eq = buf.firstIndex(of: UInt8(ascii: "=")) else { continue }
            out[String(decoding: buf[..<eq], as: UTF8.self)] = String(decoding: buf[(eq + 1)...], as: UTF8.self)
        }
        return out
    }

    /// "K=V" strings, sorted for determinism.
    public static func encode(_ env: [String: String]) -> [String] {
        env.map { "\($0.key)=\($0.value)" }.sorted()
    }
}

/// Finds a plugin executable by name in a search path (CNI_PATH split on ':').
public enum PluginLocator {
    public struct NotFound: Error, Sendable, CustomStringConvertible {
        public let name: String
        public let paths: [String]
        public var description: String {
            paths.isEmpty
                ? "no paths provided to search for plugin \"\(name)\""
                : "failed to find plugin \"\(name)\" in path \(paths)"
        }
    }

    public static func splitPath(_ cniPath: String) -> [String] {
        cniPath.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    public static func find(_ name: String, in paths: [String]) throws(NotFound) -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NotFound(name: name, paths: paths)
        }
        for dir in paths {
            let candidate = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            if FileSystem.isExecutableFile(candidate) { return candidate }
        }
        throw NotFound(name: name, paths: paths)
    }
}
