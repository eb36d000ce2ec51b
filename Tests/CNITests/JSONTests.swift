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
}
