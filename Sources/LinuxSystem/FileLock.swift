import Glibc

/// An exclusive flock on a file (created when missing). Closing the descriptor drops it, also
/// when the process dies.
public enum FileLock {
    /// Opens and locks `path`, waiting for other holders; the caller closes the descriptor.
    public static func acquire(_ path: String) throws(SystemError) -> Int32 {
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        do { _ = try retryingEINTR("flock", subject: path) { flock(fd, LOCK_EX) } } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Drops a lock `acquire` took.
    public static func release(_ fd: Int32) { close(fd) }

    /// Holds the lock while `body` runs.
    public static func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = try acquire(path)
        defer { close(fd) }
        return try body()
    }
}
