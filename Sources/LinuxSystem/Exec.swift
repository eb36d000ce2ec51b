import CLinux
import Glibc

/// Replacing this process with another program (execv), with given bytes as its standard input.
public enum Exec {
    /// Runs `path` in place of this process, with `arguments` (argv[0] included), this process's
    /// environment, and `stdin` as its standard input (an in-memory file, so any size fits; nil:
    /// this process's). Returns only by throwing: the program cannot be run.
    public static func replace(with path: String, arguments: [String], stdin: [UInt8]?) throws(SystemError) -> Never {
        if let stdin { try replaceStdin(stdin, for: path) }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv(path, &argv)
        let e = SystemError("execv", subject: path)
        for p in argv { free(p) }
        throw e
    }

    static func replaceStdin(_ stdin: [UInt8], for path: String) throws(SystemError) {
        let fd = try retryingEINTR("memfd_create") { csystem_memfd("stdin") }
        if fd == 0 {
            // Started without a stdin: the memfd took fd 0 itself; it must stay open across exec.
            _ = fcntl(0, F_SETFD, 0)
        }
        var done = false
        defer { if fd != 0 && !done { close(fd) } }
        var written = 0
        while written < stdin.count {
            let n = stdin.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError("write", subject: "stdin for \(path)") }
            written += n
        }
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw SystemError("lseek", subject: "stdin for \(path)") }
        // dup2 clears close-on-exec on fd 0; the memfd itself closes on exec.
        guard fd == 0 || dup2(fd, 0) == 0 else { throw SystemError("dup2", subject: "stdin for \(path)") }
        done = true
    }

    /// The directory of this process's executable (through /proc/self/exe: the file the kernel
    /// ran, whatever name it was called by).
    public static func ownDirectory() throws(SystemError) -> String {
        FileSystem.directoryName(try FileSystem.readLink("/proc/self/exe"))
    }
}
