import CNI
import Testing

@Suite struct JSONTests {
    @Test func roundTripKeepsOrderUnknownKeysAndNumberText() throws {
        let text = #"{"z":1,"a":{"big":18446744073709551615,"f":1.50,"e":1e3},"list":[true,false,null,"s"]}"#
        let v = try JSONValue.parse(text)
        #expect(v.serializedString() == text)
        #expect(v["a"]?["f"] == .number("1.50"))
        #expect(v["a"]?["e"]?.intValue == 1000)
    }

    @Test func sortedKeysLikeGoMaps() throws {
        let v = try JSONValue.parse(#"{"b":{"d":1,"c":2},"a":[{"y":1,"x":2}],"B":0}"#)
        #expect(v.serializedString(keys: .sorted) == #"{"B":0,"a":[{"x":2,"y":1}],"b":{"c":2,"d":1}}"#)
    }

    @Test func escapesAsGo() throws {
        let v: JSONValue = .string("a\"b\\c\n\t<x>&\u{01}\u{2028}é😀")
        #expect(v.serializedString() == #""a\"b\\c\n\t\u003cx\u003e\u0026\u0001\u2028é😀""#)
        #expect(try JSONValue.parse(v.serializedString()) == v)
    }

    @Test func unicodeEscapesAndSurrogates() throws {
        #expect(try JSONValue.parse(#""\u00e9\ud83d\ude00\/""#) == .string("é😀/"))
    }

    @Test func prettyPrintMatchesGoIndent() throws {
        let v = try JSONValue.parse(#"{"a":[1,2],"b":{},"c":[],"d":{"e":"f"}}"#)
        let expected = "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": {},\n    \"c\": [],\n    \"d\": {\n        \"e\": \"f\"\n    }\n}"
        #expect(String(decoding: v.prettyPrinted(), as: UTF8.self) == expected)
    }

    @Test(arguments: ["", "{", "{\"a\"}", "{\"a\":}", "[1,]", "01", "1.", "-", "tru", "\"abc", "{} x", "\"\t\"", "{\"a\":1,}", "nul"])
    func rejectsInvalid(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func duplicateKeysLastWins() throws {
        #expect(try JSONValue.parse(#"{"a":1,"a":2}"#)["a"] == 2)
        // The same in a large object (looked up through an index past 16 keys), in the first one's place.
        let keys = (0..<40).map { "k\($0)" }
        let text = "{" + (keys.map { #""\#($0)":1"# } + [#""k3":"x""#, #""k30":"y""#, #""k3":"z""#]).joined(separator: ",") + "}"
        let o = try #require(try JSONValue.parse(text).objectValue)
        #expect(o.keys == keys && o["k3"] == "z" && o["k30"] == "y" && o["k39"] == 1 && o.count == 40)
    }

    @Test func objectEqualityIgnoresOrder() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) == JSONValue.parse(#"{"b":2,"a":1}"#))
    }

    /// Reads `bytes` through JSONCursor the way `expected` (the tree `JSONValue.parse` builds)
    /// says: objects member by member, strings as strings, the rest as values — and leaves every
    /// `skipEvery`-th member unread (the reader reads it past).
    static func readBack(_ bytes: [UInt8], skipEvery: Int) throws(JSONParseError) -> JSONValue {
        var r = JSONCursor(bytes)
        var n = 0
        func walk(_ r: inout JSONCursor, _ expected: JSONValue?) throws(JSONParseError) -> JSONValue {
            switch expected {
            case .object(let o)?:
                var out = JSONObject()
                let isObject = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                    n += 1
                    if skipEvery > 0, n % skipEvery == 0 { out[key] = o[key]; return }   // not read: skipped
                    out[key] = try walk(&r, o[key])
                }
                return isObject ? .object(out) : .null
            case .string?: return try r.string().map(JSONValue.string) ?? .null
            case nil:
                // No tree (the parser rejects the input): every object member by member, so the
                // cursor's own loops meet the fault.
                _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                    n += 1
                    if skipEvery > 0, n % skipEvery == 0 { return }
                    _ = try walk(&r, nil)
                }
                return .null
            default: return try r.value()
            }
        }
        let v = try walk(&r, try? JSONValue.parse(bytes))
        try r.end()
        return v
    }

    @Test func aReaderReadsWhatTheParserBuilds() throws {
        let texts = [#"{"z":1,"a":{"big":18446744073709551615,"f":1.50,"s":"é\u00e9\n"},"list":[true,null,{"x":"y"}],"o":{}}"#,
                     #"  {"a":1,"a":{"b":"c"},"a":"last"} "#, #""top""#, "[1,2]", "7",
                     "{" + (0..<40).map { #""k\#($0)":{"id":"c\#($0)","n":[\#($0)]}"# }.joined(separator: ",") + "}"]
        for text in texts {
            let bytes = Array(text.utf8)
            for skip in [0, 1, 2, 3] { #expect(try Self.readBack(bytes, skipEvery: skip) == JSONValue.parse(bytes), "\(text) \(skip)") }
        }
        // Not an object, not a string: read past, and the reader goes on after it.
        var r = JSONCursor(Array(#"{"a":[1,{"b":2}],"b":"s","c":3}"#.utf8))
        var seen: [String] = [], aIsObject: Bool?, cString: String?? = .none
        let isObject = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
            seen.append(key)
            if key == "a" { aIsObject = try r.object { (_: String, _: inout JSONCursor) throws(JSONParseError) in } }
            if key == "c" { cString = try r.string() }
        }
        #expect(isObject && seen == ["a", "b", "c"] && aIsObject == false && cString == .some(nil))
        try r.end()
    }

    @Test(arguments: ["", "{", "{\"a\"}", "{\"a\":}", "{\"a\":[1,]}", "{\"a\":01}", "{\"a\":\"abc", "{} x", "{\"a\":1,}", "{\"a\" 1}",
                      "{\"a\":1 \"b\":2}", "{1:2}", "{\"a\":{\"b\":1,}}", "{\"a\":[{\"b\":1 \"c\":2}]}", "{\"a\":[1 2]}", "{\"a\":{\"b\":\"\\x\"}}",
                      "{\"a\":{\"b\":tru}}", "{\"a\":{\"b\"", "{\"a\":[1,"])
    func aReaderRejectsWhatTheParserRejects(text: String) {
        let bytes = Array(text.utf8)
        for skip in [0, 1] { #expect(throws: JSONParseError.self) { try Self.readBack(bytes, skipEvery: skip) } }
    }

    @Test func aReaderKeepsTheParsersNestingLimit() throws {
        let deep = { (n: Int) in Array((String(repeating: #"{"a":"#, count: n) + "1" + String(repeating: "}", count: n)).utf8) }
        // 511 levels of objects and a number inside: the limit (512) not reached, read member by member.
        #expect(try Self.readBack(deep(511), skipEvery: 0) == JSONValue.parse(deep(511)))
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep(512)) }
        var r = JSONCursor(deep(512))
        func dive(_ r: inout JSONCursor) throws(JSONParseError) {
            _ = try r.object { (_: String, r: inout JSONCursor) throws(JSONParseError) in try dive(&r) }
        }
        #expect(throws: JSONParseError.self) { try dive(&r) }
        // At the limit an empty object, a string and an array are refused too, read or left unread.
        for inner in ["{}", #""s""#, "[]"] {
            let text = Array((String(repeating: #"{"a":"#, count: 511) + #"{"b":\#(inner)}"# + String(repeating: "}", count: 511)).utf8)
            #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
            for skip in [0, 1] { #expect(throws: JSONParseError.self) { try Self.readBack(text, skipEvery: skip) } }
            var r = JSONCursor(text)
            func down(_ r: inout JSONCursor) throws(JSONParseError) {
                _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                    if key == "a" { try down(&r) } else if inner == "{}" { _ = try r.object { (_: String, _: inout JSONCursor) throws(JSONParseError) in } } else { _ = try r.string() }
                }
            }
            #expect(throws: JSONParseError.self) { try down(&r) }
        }
        // One level less: accepted.
        let fits = Array((String(repeating: #"{"a":"#, count: 510) + #"{"b":"s"}"# + String(repeating: "}", count: 510)).utf8)
        #expect(try Self.readBack(fits, skipEvery: 0) == JSONValue.parse(fits))
    }
}

