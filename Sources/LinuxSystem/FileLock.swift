import Glibc

/// An exclusive flock on a file, held while `body` runs (closing the descriptor drops it, also
/// when the process dies).
public enum FileLock {
    public static func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        try FileSystem.makeDirectories(FileSystem.directoryName(path))
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        _ = try retryingEINTR("flock", subject: path) { flock(fd, LOCK_EX) }
        return try body()
    }
}
