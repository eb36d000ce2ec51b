import Glibc
import LinuxSystem

/// The log of the plugins whose upstream has one — multus (`logFile` / `logLevel` /
/// `logToStderr`) and whereabouts (`log_file` / `log_level`), read the same way by both: levels
/// panic < error < verbose < debug (default panic: only what precedes a failure); lines
/// "<RFC 3339 time> [level] message" appended to the file and, when asked, written to stderr
/// (never stdout: it belongs to the protocol). A log file that cannot be opened is not an error.
public struct PluginLog: Sendable {
    public enum Level: Int, Comparable, Sendable {
        case panic = 0, error, verbose, debug
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public init(_ text: String) {
            switch text.lowercased() {
            case "debug": self = .debug
            case "verbose": self = .verbose
            case "error": self = .error
            default: self = .panic
            }
        }
        var name: String { ["panic", "error", "verbose", "debug"][rawValue] }
    }

    /// multus's `logOptions` (upstream rotates with lumberjack): a file that would grow past
    /// `maxSize` MB is renamed to `<name>-<UTC time><.ext>` first; backups beyond `maxBackups` or
    /// older than `maxAge` days are removed (0: no limit). `compress` is read and not done.
    public struct Rotation: Sendable, Equatable {
        public var maxSizeMB: Int
        public var maxBackups: Int
        public var maxAgeDays: Int
        public init(maxSizeMB: Int = 100, maxBackups: Int = 0, maxAgeDays: Int = 0) {
            (self.maxSizeMB, self.maxBackups, self.maxAgeDays) = (maxSizeMB, maxBackups, maxAgeDays)
        }
    }

    let level: Level
    let file: String?
    let toStderr: Bool
    let rotation: Rotation?

    public init(level: String, file: String?, toStderr: Bool = false, rotation: Rotation? = nil) {
        self.level = Level(level)
        self.file = file
        self.toStderr = toStderr
        self.rotation = rotation
    }

    public func log(_ l: Level, _ message: @autoclosure () -> String) {
        guard l <= level, file != nil || toStderr else { return }
        let line = Array("\(WallClock.rfc3339()) [\(l.name)] \(message())\n".utf8)
        if let file {
            if let rotation { rotate(file, adding: line.count, rotation) }
            try? FileSystem.append(file, line)
        }
        if toStderr { try? FileSystem.writeAll(fd: 2, line) }
    }

    func rotate(_ path: String, adding bytes: Int, _ r: Rotation) {
        var st = stat()
        guard r.maxSizeMB > 0, stat(path, &st) == 0, Int(st.st_size) + bytes > r.maxSizeMB * 1_048_576 else { return }
        let dir = FileSystem.directoryName(path), base = FileSystem.baseName(path)
        let dot = base.lastIndex(of: ".")
        let (stem, ext) = dot.map { (String(base[..<$0]), String(base[$0...])) } ?? (base, "")
        let t = WallClock.now()
        let stamp = WallClock.utc("%Y-%m-%dT%H-%M-%S", seconds: t.tv_sec) + "." + String(1000 + t.tv_nsec / 1_000_000).dropFirst()
        try? FileSystem.rename(path, dir + "/" + stem + "-" + stamp + ext)
        // Backups, newest first (their names sort by time).
        let backups = ((try? FileSystem.list(dir)) ?? []).filter {
            $0.hasPrefix(stem + "-") && $0.hasSuffix(ext) && $0 != base && $0.count == stem.count + 1 + 23 + ext.count
        }.sorted(by: >)
        for (i, name) in backups.enumerated() {
            let tooMany = r.maxBackups > 0 && i >= r.maxBackups
            let tooOld = r.maxAgeDays > 0 && (FileSystem.age(dir + "/" + name) ?? 0) > Double(r.maxAgeDays) * 86_400
            if tooMany || tooOld { try? FileSystem.remove(dir + "/" + name) }
        }
    }

    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    public func verbose(_ m: @autoclosure () -> String) { log(.verbose, m()) }
    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
}
