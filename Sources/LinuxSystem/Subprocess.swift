import CLinux
import Glibc

/// Runs a program to completion: feeds it stdin, collects stdout, and lets its stderr through to
/// ours (or collects it).
///
/// Synchronous — one poll loop on the calling thread, no helper threads, no Foundation — on
/// purpose: a plugin runs its IPAM delegate from a thread that may sit in a pod's network
/// namespace (namespaces are per thread, STYLE habit 2), and every plugin exec pays its start-up on
/// every pod. swift-subprocess is `async` only, pulls in Foundation and runs a monitor thread;
/// Foundation's Process needs Foundation.
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
        /// Killed (SIGKILL) because it ran past the `timeout` it was given.
        public var timedOut = false
        public var succeeded: Bool { status == 0 }
    }

    /// Starts `path` with `arguments` (argv[1...]) and exactly `environment` ("K=V" strings).
    /// A program that is being written right now (ETXTBSY) is retried for up to ~2.5 s, as libcni does.
    /// With `timeout` (seconds), a child still running then is SIGKILLed and reported `timedOut`.
    public static func run(_ path: String, arguments: [String] = [], environment: [String],
                           stdin: [UInt8] = [], captureStderr: Bool = false, timeout: Double? = nil) throws(SystemError) -> Output {
        var delay: UInt32 = 20_000
        var attempt = 0
        while true {
            do {
                return try runOnce(path, arguments: arguments, environment: environment, stdin: stdin,
                                   captureStderr: captureStderr, timeout: timeout)
            } catch let e where e.errno == ETXTBSY && attempt < 7 {
                attempt += 1
                usleep(delay)
                delay *= 2
            }
        }
    }

    static func runOnce(_ path: String, arguments: [String], environment: [String], stdin input: [UInt8],
                        captureStderr: Bool, timeout: Double?) throws(SystemError) -> Output {
        let pipes = try Pipes(captureStderr: captureStderr)
        defer { pipes.closeAll() }
        let pid = try spawn(path, arguments: arguments, environment: environment, pipes: pipes)
        pipes.closeChildEnds()
        let streams: Streams
        do {
            streams = try exchange(input, pipes, deadline: timeout.map { MonotonicClock.seconds() + $0 })
        } catch let e where e.call == "timeout" {
            pipes.closeAll()
            kill(pid, SIGKILL)
            var out = try reap(pid, path)
            out.timedOut = true
            return out
        } catch {
            // We stop listening: the child must not be left blocked on a pipe, nor unreaped.
            pipes.closeAll()
            kill(pid, SIGKILL)
            _ = try? reap(pid, path)
            throw error
        }
        var out = try reap(pid, path)
        (out.stdout, out.stderr) = (streams.stdout, streams.stderr)
        return out
    }

    /// The three pipes of a child; each end closed once.
    final class Pipes {
        var stdinRead: Int32 = -1, stdinWrite: Int32 = -1
        var stdoutRead: Int32 = -1, stdoutWrite: Int32 = -1
        var stderrRead: Int32 = -1, stderrWrite: Int32 = -1

        init(captureStderr: Bool) throws(SystemError) {
            do {
                (stdinRead, stdinWrite) = try Self.make()
                (stdoutRead, stdoutWrite) = try Self.make()
                if captureStderr { (stderrRead, stderrWrite) = try Self.make() }
            } catch {
                closeAll()
                throw error
            }
        }

        static func make() throws(SystemError) -> (Int32, Int32) {
            var fds: [Int32] = [-1, -1]
            guard csystem_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe2") }
            return (fds[0], fds[1])
        }

        static func close(_ fd: inout Int32) {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }

        /// Our copies of the child's ends must close so that EOF arrives.
        func closeChildEnds() {
            Self.close(&stdinRead)
            Self.close(&stdoutWrite)
            Self.close(&stderrWrite)
        }

        func closeAll() {
            closeChildEnds()
            Self.close(&stdinWrite)
            Self.close(&stdoutRead)
            Self.close(&stderrRead)
        }
    }

    /// posix_spawn with the pipes as fds 0, 1 (and 2), default SIGPIPE handling and an empty
    /// signal mask in the child whatever ours are.
    static func spawn(_ path: String, arguments: [String], environment: [String], pipes: Pipes) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipes.stdinRead, 0)
        posix_spawn_file_actions_adddup2(&actions, pipes.stdoutWrite, 1)
        if pipes.stderrWrite >= 0 { posix_spawn_file_actions_adddup2(&actions, pipes.stderrWrite, 2) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw SystemError("exec", errno: rc, subject: path) }
        return pid
    }

    struct Streams {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
    }

    /// Writes `input` to the child's stdin while reading its stdout (and stderr) until both close.
    /// The stdin end is non-blocking, so a write never waits on a child that is itself waiting for
    /// us to read. SIGPIPE (a child that exits without reading its stdin) is blocked on this thread
    /// only while we write, and a pending one is consumed: nothing process-wide changes.
    static func exchange(_ input: [UInt8], _ pipes: Pipes, deadline: Double? = nil) throws(SystemError) -> Streams {
        var streams = Streams()
        var written = 0
        _ = fcntl(pipes.stdinWrite, F_SETFL, fcntl(pipes.stdinWrite, F_GETFL) | O_NONBLOCK)
        if input.isEmpty { Pipes.close(&pipes.stdinWrite) }
        let sigpipe = SigpipeGuard()
        defer { sigpipe.restore() }
        // Uninitialised: the kernel fills what it reads, and untouched pages stay unmapped.
        var buf = [UInt8](unsafeUninitializedCapacity: 65536) { _, count in count = 65536 }

        while pipes.stdinWrite >= 0 || pipes.stdoutRead >= 0 || pipes.stderrRead >= 0 {
            var pfds: [pollfd] = []
            for fd in [pipes.stdoutRead, pipes.stderrRead] where fd >= 0 { pfds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if pipes.stdinWrite >= 0 { pfds.append(pollfd(fd: pipes.stdinWrite, events: Int16(POLLOUT), revents: 0)) }
            var wait: Int32 = -1
            if let deadline {
                let left = deadline - MonotonicClock.seconds()
                if left <= 0 { throw SystemError("timeout", errno: ETIMEDOUT) }
                wait = Int32(min(left * 1000 + 1, 60_000))
            }
            if poll(&pfds, nfds_t(pfds.count), wait) < 0 {
                if errno == EINTR { continue }
                throw SystemError("poll")
            }
            for p in pfds where p.revents != 0 {
                if p.fd == pipes.stdinWrite {
                    let w = input.withUnsafeBytes { Glibc.write(p.fd, $0.baseAddress! + written, $0.count - written) }
                    if w > 0 { written += w }
                    if w < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if w < 0 && errno == EPIPE { sigpipe.consume() }
                    if w < 0 || written == input.count { Pipes.close(&pipes.stdinWrite) }
                } else {
                    let r = buf.withUnsafeMutableBytes { Glibc.read(p.fd, $0.baseAddress, $0.count) }
                    if r < 0 && errno == EINTR { continue }
                    if r <= 0 {
                        if p.fd == pipes.stdoutRead { Pipes.close(&pipes.stdoutRead) } else { Pipes.close(&pipes.stderrRead) }
                    } else if p.fd == pipes.stdoutRead {
                        streams.stdout.append(contentsOf: buf[0..<r])
                    } else {
                        streams.stderr.append(contentsOf: buf[0..<r])
                    }
                }
            }
        }
        return streams
    }

    /// Waits for the child; its exit status (128 + signal as shells report a signal) and usage.
    static func reap(_ pid: pid_t, _ path: String) throws(SystemError) -> Output {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw SystemError("wait4", subject: path) }
        }
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return Output(status: code, stdout: [], stderr: [],
                      cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime), maxRSSKiB: usage.ru_maxrss)
    }
}

/// SIGPIPE blocked on the calling thread (the write to a child's stdin then fails with EPIPE
/// instead of killing us); the previous mask comes back on `restore`.
struct SigpipeGuard {
    private var previous = sigset_t()

    init() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, &previous)
    }

    /// Takes the SIGPIPE our failed write raised off the thread's pending set.
    func consume() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        _ = sigtimedwait(&set, nil, &zero)
    }

    func restore() {
        var previous = previous
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
