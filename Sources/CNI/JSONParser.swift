/// A JSON syntax error with the byte offset where it was found.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at offset \(offset)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259); surrounding whitespace allowed, nothing else.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        var p = JSONParser(Array(bytes))
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.b.count else { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

struct JSONParser {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

    mutating func skipSpace() {
        i = b.withUnsafeBufferPointer { p in
            var j = i
            while j < p.count, p[j] == 0x20 || p[j] == 0x0A || p[j] == 0x0D || p[j] == 0x09 { j += 1 }
            return j
        }
    }

    mutating func expect(_ word: String, _ v: JSONValue) throws(JSONParseError) -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("invalid literal") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < 512 else { throw fail("nesting too deep") }
        guard i < b.count else { throw fail("unexpected end of JSON input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), 48...57: return try number()
        default: throw fail("invalid character '\(Character(Unicode.Scalar(b[i])))' looking for beginning of value")
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        i += 1
        var obj = JSONObject()
        var index: [String: Int]?
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after object key") }
            i += 1
            skipSpace()
            // Duplicate keys: the last one wins, as in Go.
            obj.setParsed(key, try value(depth: depth + 1), index: &index)
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of JSON input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
            throw fail("expected ',' or '}' in object")
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of JSON input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']' in array")
        }
    }

    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.b.count, p.b[p.i] >= 48, p.b[p.i] <= 57 { p.i += 1 }
            return p.i - s
        }
        guard i < b.count else { throw fail("invalid number") }
        if b[i] == 48 { i += 1 } else if digits(&self) == 0 { throw fail("invalid number") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        return .number(String(decoding: b[start..<i], as: UTF8.self))
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let d = hexDigit(b[i]) else { throw fail("invalid \\u escape") }
            v = v << 4 | UInt32(d); i += 1
        }
        return v
    }

    func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes. (Scanned through a buffer pointer: the array's bounds checks
        // were most of the scan, and most of a large document's bytes are in strings.)
        i = b.withUnsafeBufferPointer { p in
            var j = start
            while j < p.count, p[j] != UInt8(ascii: "\""), p[j] != UInt8(ascii: "\\"), p[j] >= 0x20 { j += 1 }
            return j
        }
        guard i < b.count else { throw fail("unexpected end of JSON input") }
        if b[i] == UInt8(ascii: "\"") {
            i += 1
            return String(decoding: b[start..<i - 1], as: UTF8.self)
        }
        var out = Array(b[start..<i])
        while true {
            guard i < b.count else { throw fail("unexpected end of JSON input") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            guard c >= 0x20 else { throw fail("invalid control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("unexpected end of JSON input") }
            let e = b[i]; i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), i + 1 < b.count,
                   b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u")
                {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail("invalid escape in string")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Reads one JSON document member by member, for a large document of which a caller keeps a
/// few members and one large map in its own shape: an IPPool's 1,000 allocations, built as a
/// `JSONValue` tree and then read once, cost ~7M instructions of ~9M (an object, an array of
/// entries and an index per record). The same parser as `JSONValue.parse`, so the same
/// documents are accepted, with the same errors and the same 512-level limit; what the caller
/// does not read (a member's value `body` leaves, or a value of another type than asked for) is
/// checked and read past without being built (a real API server's `managedFields` can be as
/// large as the allocations).
public struct JSONCursor {
    var p: JSONParser
    /// The nesting of the value at the cursor (the document itself: 0).
    var depth = 0

    public init(_ bytes: [UInt8]) {
        p = JSONParser(bytes)
        p.skipSpace()
    }

    /// The value at the cursor, as a tree.
    public mutating func value() throws(JSONParseError) -> JSONValue {
        try p.value(depth: depth)
    }

    /// The value at the cursor when it is a string; anything else is read past: nil.
    public mutating func string() throws(JSONParseError) -> String? {
        guard depth < 512 else { throw p.fail("nesting too deep") }
        guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { try skip(); return nil }
        return try p.string()
    }

    /// The object at the cursor, member by member: `body` gets each key, in document order and as
    /// often as it appears, with the reader at its value, and reads that value or leaves it (then
    /// it is read past). Anything but an object is read past: false.
    public mutating func object(_ body: (String, inout JSONCursor) throws(JSONParseError) -> Void) throws(JSONParseError) -> Bool {
        guard depth < 512 else { throw p.fail("nesting too deep") }
        guard p.i < p.b.count else { throw p.fail("unexpected end of JSON input") }
        guard p.b[p.i] == UInt8(ascii: "{") else { try skip(); return false }
        p.i += 1
        p.skipSpace()
        if p.i < p.b.count, p.b[p.i] == UInt8(ascii: "}") { p.i += 1; return true }
        depth += 1
        defer { depth -= 1 }
        while true {
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { throw p.fail("expected a string key") }
            let key = try p.string()
            p.skipSpace()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: ":") else { throw p.fail("expected ':' after object key") }
            p.i += 1
            p.skipSpace()
            let at = p.i
            try body(key, &self)
            if p.i == at { try skip() }
            p.skipSpace()
            guard p.i < p.b.count else { throw p.fail("unexpected end of JSON input") }
            if p.b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
            if p.b[p.i] == UInt8(ascii: "}") { p.i += 1; return true }
            throw p.fail("expected ',' or '}' in object")
        }
    }

    /// Reads past the value at the cursor, checking it as the parser does, without building it:
    /// objects and arrays member by member, strings and scalars by the parser's own reads.
    mutating func skip() throws(JSONParseError) {
        guard depth < 512 else { throw p.fail("nesting too deep") }
        guard p.i < p.b.count else { throw p.fail("unexpected end of JSON input") }
        switch p.b[p.i] {
        case UInt8(ascii: "{"): _ = try object { (_: String, _: inout JSONCursor) throws(JSONParseError) in }
        case UInt8(ascii: "\""): _ = try p.string()
        case UInt8(ascii: "["):
            p.i += 1
            p.skipSpace()
            if p.i < p.b.count, p.b[p.i] == UInt8(ascii: "]") { p.i += 1; return }
            depth += 1
            defer { depth -= 1 }
            while true {
                p.skipSpace()
                try skip()
                p.skipSpace()
                guard p.i < p.b.count else { throw p.fail("unexpected end of JSON input") }
                if p.b[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
                if p.b[p.i] == UInt8(ascii: "]") { p.i += 1; return }
                throw p.fail("expected ',' or ']' in array")
            }
        default: _ = try p.value(depth: depth)   // numbers and literals: small
        }
    }

    /// After the document's value: nothing but whitespace may follow.
    public mutating func end() throws(JSONParseError) {
        p.skipSpace()
        guard p.i == p.b.count else { throw p.fail("unexpected data after the JSON value") }
    }
}
