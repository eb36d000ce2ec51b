/// Serialisation byte for byte as Go's encoding/json prints (compact, and MarshalIndent's layout):
/// results, cache files and configs handed to other plugins must read exactly as the reference's.
/// Foundation's JSONSerialization/JSONEncoder cannot (no Go escaping of <, >, &, no 4-space
/// MarshalIndent with `": "`, sorted or preserved keys by choice) and would cost every plugin the
/// Foundation start-up (../shared/PLATFORM.md: 0.7 ms → 1.5 ms static).
extension JSONValue {
    public enum KeyOrder: Sendable {
        /// Keys as stored (the order a value was built or parsed in).
        case preserved
        /// Keys sorted bytewise, as Go marshals a map (what libcni sends after injecting keys).
        case sorted
        /// The top object's keys as stored (a Go struct's fields), every nested object's sorted (the
        /// maps inside it): libcni's result cache file.
        case sortedBelowTop
    }

    /// Compact JSON, escaped as Go's encoding/json does (HTML-safe: <, >, & and U+2028/9 as \u).
    public func serialized(keys: KeyOrder = .preserved) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, keys: keys, indent: nil, level: 0)
        return out
    }

    /// Indented JSON as Go's `json.MarshalIndent(v, "", "    ")` prints results.
    public func prettyPrinted(keys: KeyOrder = .preserved) -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out, keys: keys, indent: 4, level: 0)
        return out
    }

    public func serializedString(keys: KeyOrder = .preserved) -> String {
        String(decoding: serialized(keys: keys), as: UTF8.self)
    }

    func write(into out: inout [UInt8], keys: KeyOrder, indent: Int?, level: Int) {
        func newline(_ lvl: Int) {
            guard let n = indent else { return }
            out.append(0x0A)
            out.append(contentsOf: repeatElement(0x20, count: n * lvl))
        }
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let v): out.append(contentsOf: Array((v ? "true" : "false").utf8))
        case .number(let n): out.append(contentsOf: Array(n.utf8))
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            if items.isEmpty { out.append(UInt8(ascii: "]")); return }
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                item.write(into: &out, keys: keys, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "]"))
        case .object(let obj):
            out.append(UInt8(ascii: "{"))
            if obj.isEmpty { out.append(UInt8(ascii: "}")); return }
            var entries = obj.entries
            if keys == .sorted || (keys == .sortedBelowTop && level > 0) { entries.sort { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) } }
            for (n, entry) in entries.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                JSONValue.writeString(entry.key, into: &out)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(0x20) }
                entry.value.write(into: &out, keys: keys, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string as Go escapes it: `"` `\\` `\n` `\r` `\t` short, other controls and the
    /// HTML-sensitive `<` `>` `&` and U+2028/U+2029 as `\u00XX`; everything else as its UTF-8.
    /// Works on the UTF-8 bytes, copying runs that need no escape in one go (no per-scalar work,
    /// no allocation per string).
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { buf in
            let n = buf.count
            var run = 0, i = 0
            func flush() { if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<i])) } }
            while i < n {
                let c = buf[i]
                var escape: UInt32?
                var width = 1
                switch c {
                case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0..<0x20, 0x3C, 0x3E, 0x26: escape = UInt32(c)
                case 0xE2 where i + 2 < n && buf[i + 1] == 0x80 && (buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9):
                    escape = buf[i + 2] == 0xA8 ? 0x2028 : 0x2029
                    width = 3
                default: break
                }
                if let e = escape {
                    flush()
                    writeEscape(e, into: &out)
                    i += width
                    run = i
                } else {
                    i += 1
                }
            }
            flush()
        }
        out.append(0x22)
    }

    static func writeEscape(_ v: UInt32, into out: inout [UInt8]) {
        switch v {
        case 0x22: out.append(0x5C); out.append(0x22)
        case 0x5C: out.append(0x5C); out.append(0x5C)
        case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
        case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
        default:
            out.append(0x5C)
            out.append(UInt8(ascii: "u"))
            for shift in [12, 8, 4, 0] as [UInt32] {
                let d = UInt8(v >> shift & 0xF)
                out.append(d < 10 ? 48 + d : 87 + d)
            }
        }
    }
}
