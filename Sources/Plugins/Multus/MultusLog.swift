import Glibc
import LinuxSystem

/// multus's `logFile` / `logLevel` / `logToStderr`, as upstream reads them: levels panic < error <
/// verbose < debug (default panic: only what precedes a failure); lines "<RFC 3339 time> [level]
/// message" appended to the file and, when asked, written to stderr (never stdout: it belongs to
/// the protocol). A log file that cannot be opened is not an error.
struct MultusLog {
    enum Level: Int, Comparable {
        case panic = 0, error, verbose, debug
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        init(_ text: String) {
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

    init(_ conf: MultusConfig) {
        level = Level(conf.logLevel)
        file = conf.logFile
        toStderr = conf.logToStderr
    }

    func log(_ l: Level, _ message: @autoclosure () -> String) {
        guard l <= level, file != nil || toStderr else { return }
        let line = Array("\(Self.timestamp()) [\(l.name)] \(message())\n".utf8)
        if let file { try? FileSystem.append(file, line) }
        if toStderr { try? FileSystem.writeAll(fd: 2, line) }
    }

    func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    func verbose(_ m: @autoclosure () -> String) { log(.verbose, m()) }
    func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }

    static func timestamp() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &tm)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
