/// A JSON document as a value. Objects keep their keys in order and numbers keep their literal
/// text, so a config the runtime rewrites for a plugin (CNIRuntime) loses nothing: unknown keys,
/// big integers, key order.
///
/// Why not Foundation or Codable: no plugin links Foundation, whose start-up (and Codable's
/// run-time conformance checks) every pod would pay on every plugin exec; and neither keeps key
/// order and number text. JSONParser/JSONSerializer are fuzzed against Foundation's
/// JSONSerialization in the tests only (Integration/Fuzz).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, e.g. "1500" or "1.5e3".
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static func int(_ v: Int) -> JSONValue { .number(String(v)) }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }

    /// The number as an integer, when it is one (no fraction, in range).
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let i = Int(text) { return i }
        // "1e3" or "1500.0": integral values written as floats.
        if let d = Double(text), d.rounded() == d, abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    /// Looks up a key when this is an object.
    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

/// A JSON object whose keys keep their order.
public struct JSONObject: Sendable, Equatable, Sequence {
    /// One key and its value. (A struct, not a tuple: tuple-typed arrays cost a runtime
    /// metadata demangle in every process that uses them.)
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
    }

    public private(set) var entries: [Entry]

    public init() { entries = [] }
    public init(_ entries: [(String, JSONValue)]) {
        self.entries = []
        for (k, v) in entries { self[k] = v }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// Reads a key; setting nil removes it; setting an existing key keeps its position.
    public subscript(key: String) -> JSONValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            let idx = entries.firstIndex(where: { $0.key == key })
            switch (idx, newValue) {
            case (let i?, let v?): entries[i].value = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append(Entry(key: key, value: v))
            case (nil, nil): break
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    /// The parser's insert, with the subscript's rule for a repeated key (the last value wins, in
    /// the first one's place). Past 16 keys, `index` (key → position, made here) replaces the
    /// scan: an IPPool's 1,000 allocations cost 25M instructions to parse with a scan per key.
    mutating func setParsed(_ key: String, _ value: JSONValue, index: inout [String: Int]?) {
        if index == nil {
            if let i = entries.firstIndex(where: { $0.key == key }) { entries[i].value = value; return }
            entries.append(Entry(key: key, value: value))
            if entries.count == 16 {
                var d = [String: Int](minimumCapacity: 64)
                for n in entries.indices { d[entries[n].key] = n }
                index = d
            }
            return
        }
        if let i = index![key] { entries[i].value = value; return }
        index![key] = entries.count
        entries.append(Entry(key: key, value: value))
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        // Key order is presentation, not content.
        guard a.count == b.count else { return false }
        for e in a.entries where b[e.key] != e.value { return false }
        return true
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}
