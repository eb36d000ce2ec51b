import CLinux
import Glibc

/// A long-running program started without waiting for it (a server a test or a benchmark needs:
/// dnsmasq, a DHCP daemon): stdin on /dev/null, stdout and stderr to files (/dev/null unless
/// named). Stopped by its PID
/// (TERM, then KILL after `grace`) and reaped, at the latest when the object goes.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    private var reaped = false

    public init(_ path: String, arguments: [String] = [], environment: [String]? = nil, stdoutPath: String = "/dev/null",
                stderrPath: String = "/dev/null") throws(SystemError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc: Int32
        if let environment {
            let envp = environment.map { strdup($0) } + [nil]
            defer { for e in envp { free(e) } }
            rc = posix_spawn(&child, path, &actions, nil, argv, envp)
        } else {
            rc = posix_spawn(&child, path, &actions, nil, argv, csystem_environ())
        }
        guard rc == 0 else { throw SystemError("posix_spawn", errno: rc, subject: path) }
        pid = child
    }

    /// Not exited yet (an exit seen here is reaped).
    public var isRunning: Bool {
        if reaped { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = true }
        return !reaped
    }

    /// Sends `signal`, waits up to `grace` seconds, then SIGKILLs; always reaps.
    public func stop(_ signal: Int32 = SIGTERM, grace: Double = 3) {
        guard isRunning else { return }
        kill(pid, signal)
        var waited = 0.0
        while isRunning && waited < grace { usleep(10_000); waited += 0.01 }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            reaped = true
        }
    }

    deinit { stop() }
}
