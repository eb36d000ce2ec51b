/// Command-line flags read as Go's `flag` package reads them, for the modes whose command line
/// the reference defines that way (`dhcp daemon -socketpath /run/cni/dhcp.sock -broadcast`), so
/// a unit file or a manifest written for the reference works unchanged:
/// - `-name value`, `-name=value`, and the same with two dashes; the last occurrence wins;
/// - a boolean flag takes no separate value: `-name` is true, `-name=false` (Go's spellings of a
///   boolean: 1 t T TRUE true True, 0 f F FALSE false False);
/// - the flags end at the first argument that is not one (or `-` alone), or after `--`;
/// - `-h`/`-help` (when not defined) ask for the usage text (the caller prints it: Go writes it
///   to stderr, ours to stdout, as before).
/// Errors carry Go's messages ("flag provided but not defined: -x"). Kept out of
/// swift-argument-parser on purpose: its model is not Go's (single-dash long names are an
/// emulation there), and it brings FoundationEssentials — about 1,500 protocol conformance
/// records — into the executable that also serves per-pod plugins (multus, whereabouts), where
/// every first-time dynamic cast scans them all.
public struct GoFlags: Sendable {
    public struct Flag: Sendable {
        public let name: String
        public let usage: String
        /// The default as text for the usage ("" shows none).
        public let defaultText: String
        public let isBool: Bool
        /// What the usage shows after the name ("string", "duration"; nothing for a boolean).
        public let valueName: String
        /// Whether a value is acceptable (a boolean's is checked as Go's).
        public let accepts: @Sendable (String) -> Bool

        public init(_ name: String, _ usage: String, default defaultText: String = "", valueName: String = "string",
                    accepts: @escaping @Sendable (String) -> Bool = { _ in true }) {
            (self.name, self.usage, self.defaultText, self.isBool, self.valueName, self.accepts) =
                (name, usage, defaultText, false, valueName, accepts)
        }

        /// A duration flag: a Go duration (or plain seconds) above zero, as `GoFlags.seconds` reads it.
        public static func duration(_ name: String, _ usage: String, default defaultText: String) -> Flag {
            Flag(name, usage, default: defaultText, valueName: "duration", accepts: { GoFlags.seconds($0) != nil })
        }

        /// A boolean flag (false unless given).
        public static func bool(_ name: String, _ usage: String) -> Flag {
            Flag(name, usage, isBool: true)
        }

        private init(_ name: String, _ usage: String, isBool: Bool) {
            (self.name, self.usage, self.defaultText, self.isBool, self.valueName, self.accepts) =
                (name, usage, "", isBool, "", { GoFlags.bool($0) != nil })
        }
    }

    public enum Parsed: Equatable, Sendable {
        /// The values given (booleans as "true"/"false"), and the arguments after the flags.
        case values([String: String], arguments: [String])
        /// `-h` or `-help`: show the usage.
        case help
    }

    public struct Failure: Error, Equatable, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public let command: String
    public let flags: [Flag]

    public init(command: String, _ flags: [Flag]) {
        (self.command, self.flags) = (command, flags)
    }

    public func parse(_ arguments: [String]) throws(Failure) -> Parsed {
        var values: [String: String] = [:]
        var i = 0
        while i < arguments.count {
            let s = Array(arguments[i].utf8)
            guard s.count >= 2, s[0] == UInt8(ascii: "-") else { break }
            var dashes = 1
            if s[1] == UInt8(ascii: "-") {
                dashes = 2
                if s.count == 2 { i += 1; break }   // "--" ends the flags
            }
            var name = s[dashes...]
            guard let first = name.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "=") else {
                throw Failure(message: "bad flag syntax: " + arguments[i])
            }
            i += 1
            var value: String?
            if let eq = name.dropFirst().firstIndex(of: UInt8(ascii: "=")) {
                value = String(decoding: name[(eq + 1)...], as: UTF8.self)
                name = name[..<eq]
            }
            let key = String(decoding: name, as: UTF8.self)
            guard let flag = flags.first(where: { $0.name == key }) else {
                if key == "h" || key == "help" { return .help }
                throw Failure(message: "flag provided but not defined: -" + key)
            }
            if flag.isBool {
                guard let v = value else { values[key] = "true"; continue }
                guard let b = Self.bool(v) else {
                    throw Failure(message: "invalid boolean value \"\(v)\" for -\(key): parse error")
                }
                values[key] = b ? "true" : "false"
                continue
            }
            if value == nil, i < arguments.count { value = arguments[i]; i += 1 }
            guard let v = value else { throw Failure(message: "flag needs an argument: -" + key) }
            guard flag.accepts(v) else { throw Failure(message: "invalid value \"\(v)\" for flag -\(key): parse error") }
            values[key] = v
        }
        return .values(values, arguments: Array(arguments[i...]))
    }

    /// Go's usage text: "Usage of <command>:", then each flag in name order with its default.
    public var usage: String {
        var out = "Usage of \(command):\n"
        for f in flags.sorted(by: { $0.name < $1.name }) {
            out += "  -" + f.name + (f.valueName.isEmpty ? "" : " " + f.valueName) + "\n    \t" + f.usage
            if !f.defaultText.isEmpty { out += " (default " + (f.valueName == "string" ? "\"" + f.defaultText + "\"" : f.defaultText) + ")" }
            out += "\n"
        }
        return out
    }

    /// strconv.ParseBool.
    public static func bool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// Seconds of a Go duration ("10s", "1m30s", "+1.5h", "500ms", "250us", "2µs", "100ns"), or
    /// of a plain number of seconds ("10", "2.5": Go would refuse it; kept for command lines
    /// written for earlier versions of ours). Only durations above zero and within Go's range
    /// (about 2,562,047 hours): nil otherwise.
    public static func seconds(_ text: String) -> Double? {
        var s = Array(text.utf8)
        if s.first == UInt8(ascii: "+") { s.removeFirst() }
        guard !s.isEmpty else { return nil }
        func isNumeral(_ c: UInt8) -> Bool { c == UInt8(ascii: ".") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) }
        func inRange(_ t: Double) -> Double? { t > 0 && t <= 9_223_372_036.854775807 ? t : nil }
        if s.allSatisfy(isNumeral) { return Double(String(decoding: s, as: UTF8.self)).flatMap(inRange) }
        var total = 0.0, i = 0
        while i < s.count {
            let start = i
            while i < s.count, isNumeral(s[i]) { i += 1 }
            guard i > start, let n = Double(String(decoding: s[start..<i], as: UTF8.self)) else { return nil }
            let unitStart = i
            while i < s.count, !isNumeral(s[i]) { i += 1 }
            let factor: Double
            switch String(decoding: s[unitStart..<i], as: UTF8.self) {
            case "ns": factor = 1e-9
            case "us", "µs", "μs": factor = 1e-6
            case "ms": factor = 1e-3
            case "s": factor = 1
            case "m": factor = 60
            case "h": factor = 3600
            default: return nil
            }
            total += n * factor
        }
        return inRange(total)
    }
}
