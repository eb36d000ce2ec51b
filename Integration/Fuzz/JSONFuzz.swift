// libFuzzer target for the hand-written JSON parser and serializer (Sources/CNI/JSON*.swift),
// compiled together with them by Integration/Fuzz/run.sh (`swiftc -sanitize=fuzzer,address`).
// Foundation is used here only, as the reference the parser is compared with; no plugin links it.
//
// For every input:
//  1. parsing never crashes, and what parses prints (compact and indented) to bytes that parse
//     back to the same value — printing is stable;
//  2. JSONCursor, reading the input member by member (as the tree says — objects member by
//     member, strings as strings — or, where the parser rejects it, object by object; every
//     third member left unread), accepts what the parser
//     accepts, rejects what it rejects, and reads the same value;
//  3. where the input is plain UTF-8 JSON, our parser and Foundation's JSONSerialization agree on
//     accepting it, and on the value (strings, numbers as doubles, literals, array order, object
//     keys with the last duplicate winning). Known, deliberate differences are skipped: invalid
//     UTF-8 and lone surrogate escapes (Go's encoding/json, which we follow, accepts them as
//     U+FFFD; Foundation rejects), nesting past 512 (our limit), numbers out of Double's range, and
//     what Foundation alone accepts where Go refuses (trailing commas), and U+FEFF, which
//     Foundation drops in places.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let ours = try? JSONValue.parse(bytes)
    if let v = ours {
        for printed in [v.serialized(), v.prettyPrinted(), v.serialized(keys: .sorted)] {
            guard let again = try? JSONValue.parse(printed) else { fail("printed JSON does not parse", bytes, printed) }
            if printed == v.serialized(keys: .sorted) { continue }  // sorted: same value, other key order
            guard again == v else { fail("printed JSON parses to another value", bytes, printed) }
        }
    }
    switch (ours, try? readBack(bytes, ours)) {
    case (nil, nil): break
    case (let v?, let r?): if r != v { fail("JSONCursor reads another value", bytes, r.serialized()) }
    case (nil, _?): fail("JSONCursor accepts what the parser rejects", bytes, [])
    case (_?, nil): fail("JSONCursor rejects what the parser accepts", bytes, [])
    }
    guard comparable(bytes) else { return 0 }
    let theirs = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    switch (ours, theirs) {
    case (nil, nil): return 0
    case (let v?, let t?): if !same(v, t) { fail("Foundation reads another value", bytes, v.serialized()) }
    case (nil, _?): if !foundationLeniency(bytes) { fail("Foundation accepts what we reject", bytes, []) }
    case (_?, nil): fail("we accept what Foundation rejects", bytes, [])
    }
    return 0
}

/// The input read through JSONCursor as `expected` (the parser's tree) says; with no tree (the
/// parser rejects it), object by object. Every third member is left unread (read past).
func readBack(_ bytes: [UInt8], _ expected: JSONValue?) throws(JSONParseError) -> JSONValue {
    var r = JSONCursor(bytes)
    var n = 0
    func walk(_ r: inout JSONCursor, _ expected: JSONValue?) throws(JSONParseError) -> JSONValue {
        switch expected {
        case .object(let o)?:
            var out = JSONObject()
            let isObject = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                n += 1
                if n % 3 == 0 { out[key] = o[key]; return }
                out[key] = try walk(&r, o[key])
            }
            return isObject ? .object(out) : .null
        case .string?: return try r.string().map(JSONValue.string) ?? .null
        case nil:
            // No tree (the parser rejects the input): every object member by member, so the
            // cursor's own loops meet the fault.
            _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                n += 1
                if n % 3 != 0 { _ = try walk(&r, nil) }
            }
            return .null
        default: return try r.value()
        }
    }
    let v = try walk(&r, expected)
    try r.end()
    return v
}

func fail(_ what: String, _ input: [UInt8], _ printed: [UInt8]) -> Never {
    let text = String(decoding: input, as: UTF8.self)
    fatalError("\(what)\ninput: \(text.debugDescription)\nprinted: \(String(decoding: printed, as: UTF8.self).debugDescription)")
}

/// Inputs where the two parsers are meant to agree (see the header).
func comparable(_ bytes: [UInt8]) -> Bool {
    guard !bytes.contains(0), String(validatingUTF8: bytes.map { CChar(bitPattern: $0) } + [0]) != nil else { return false }
    let text = String(decoding: bytes, as: UTF8.self)
    // A byte-order mark: Foundation skips one at the start, and drops one inside a string after
    // an escape (its bug: "\\u0000\u{FEFF}b" reads as "\0b"); the RFC keeps it as a character.
    if text.unicodeScalars.contains("\u{FEFF}") { return false }
    let lower = text.lowercased()
    for s in ["\\ud8", "\\ud9", "\\uda", "\\udb", "\\udc", "\\udd", "\\ude", "\\udf"] where lower.contains(s) { return false }
    // Depth: count brackets outside strings, roughly (an over-count only skips more).
    var depth = 0, deepest = 0
    for c in bytes { if c == 0x5B || c == 0x7B { depth += 1; deepest = max(deepest, depth) } else if c == 0x5D || c == 0x7D { depth -= 1 } }
    if deepest >= 500 { return false }
    // Numbers past Double's range, or with more digits than Foundation keeps exactly.
    if let v = try? JSONValue.parse(bytes), !numbersInRange(v) { return false }
    return true
}

/// Syntax Foundation takes and Go's encoding/json (and so we) refuse: a comma before ] or }.
func foundationLeniency(_ bytes: [UInt8]) -> Bool {
    let ws: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
    var lastSignificant: UInt8 = 0
    for c in bytes where !ws.contains(c) {
        if (c == 0x5D || c == 0x7D) && lastSignificant == 0x2C { return true }
        lastSignificant = c
    }
    return false
}

func numbersInRange(_ v: JSONValue) -> Bool {
    switch v {
    case .number(let t): guard let d = Double(t) else { return false }; return d.isFinite && (d == 0 || abs(d) > 1e-300)
    case .array(let a): return a.allSatisfy(numbersInRange)
    case .object(let o): return o.entries.allSatisfy { numbersInRange($0.value) }
    default: return true
    }
}

func same(_ v: JSONValue, _ t: Any) -> Bool {
    switch v {
    case .null: return t is NSNull
    case .bool(let b):
        return (t as? Bool) == b || (t as? NSNumber)?.boolValue == b
    case .number(let text):
        guard let n = t as? NSNumber, let d = Double(text) else { return false }
        let f = n.doubleValue
        return d == f || abs(d - f) <= abs(d) * 1e-9
    case .string(let s): return (t as? String) == s
    case .array(let a):
        guard let ta = t as? [Any], ta.count == a.count else { return false }
        return zip(a, ta).allSatisfy { same($0, $1) }
    case .object(let o):
        guard let to = t as? [String: Any], to.count == o.entries.count else { return false }
        return o.entries.allSatisfy { e in to[e.key].map { same(e.value, $0) } ?? false }
    }
}
