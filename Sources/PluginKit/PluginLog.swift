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

    let level: Level
    let file: String?
    let toStderr: Bool

    public init(level: String, file: String?, toStderr: Bool = false) {
        self.level = Level(level)
        self.file = file
        self.toStderr = toStderr
    }

    public func log(_ l: Level, _ message: @autoclosure () -> String) {
        guard l <= level, file != nil || toStderr else { return }
        let line = Array("\(Self.timestamp()) [\(l.name)] \(message())\n".utf8)
        if let file { try? FileSystem.append(file, line) }
        if toStderr { try? FileSystem.writeAll(fd: 2, line) }
    }

    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    public func verbose(_ m: @autoclosure () -> String) { log(.verbose, m()) }
    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }

    static func timestamp() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &tm)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
