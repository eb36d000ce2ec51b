import Basics
import Testing

@Suite struct SHA512Tests {
    /// `printf 'a'×n | sha512sum`, at the sizes where padding changes shape: one block, the
    /// length field no longer fitting (112), exactly one block (128), two blocks and their edges.
    static let digests: [Int: String] = [
        0: "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        3: "d6f644b19812e97b5d871658d6d3400ecd4787faeb9b8990c1e7608288664be77257104a58d033bcf1a0e0945ff06468ebe53e2dff36e248424c7273117dac09",
        111: "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef86818196921760b4beff48404df811b953828274461673c68d04e297b0eb7b2b4d60fc6b566a2",
        112: "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc32bd05f0f1ba33e568b88fd2d970929b719ecbb152f58f130a407c8830604b70ca",
        127: "828613968b501dc00a97e08c73b118aa8876c26b8aac93df128502ab360f91bab50a51e088769a5c1eff4782ace147dce3642554199876374291f5d921629502",
        128: "b73d1929aa615934e61a871596b3f3b33359f42b8175602e89f7e06e5f658a243667807ed300314b95cacdd579f3e33abdfbe351909519a846d465c59582f321",
        129: "4f681e0bd53cda4b5a2041cc8a06f2eabde44fb16c951fbd5b87702f07aeab611565b19c47fde30587177ebb852e3971bbd8d3fd30da18d71037dfbd98420429",
        239: "52c853cb8d907f3d4d6b889beb027985d7c273486d75f8baf26f80d24e90c74c6c3de3e22131582380a7d14d43f2941a31385439cd6ddc469f628015e50bf286",
        240: "4c296d90c61052a62ffb1dd196f1b7b09373b1f93e71836baebf89690546b7595684dbe9467a8e484fa0d1094272b4344a7c24f5fee8daedeb0bf549c985ab5f",
        1000: "67ba5535a46e3f86dbfbed8cbbaf0125c76ed549ff8b0b9e03e0c88cf90fa634fa7b12b47d77b694de488ace8d9a65967dc96df599727d3292a8d9d447709c97",
    ]

    @Test(arguments: [0, 3, 111, 112, 127, 128, 129, 239, 240, 1000])
    func matchesSha512sumAtBlockBoundaries(size: Int) throws {
        let digest = SHA512.hash(Array(repeating: UInt8(ascii: "a"), count: size))
        let hex = digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(digest.count == 64)
        #expect(hex == Self.digests[size])
    }

    @Test func hexOfText() {
        // Every byte two digits, leading zeros kept ("…e80e2a…").
        #expect(SHA512.hex("abc") == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
    }
}

@Suite struct Base64Tests {
    /// RFC 4648 §10 test vectors.
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                      ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func encodesRFC4648Vectors(_ input: String, _ expected: String) {
        #expect(Base64.encode(Array(input.utf8)) == expected)
        #expect(Base64.decode(expected) == Array(input.utf8))
    }

    @Test func decodesUnpaddedAndBinaryAndRefusesOtherCharacters() {
        #expect(Base64.decode("Zm9vYg") == Array("foob".utf8))
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.decode("Zm9v YmFy") == nil && Base64.decode("Zm9v-") == nil)
    }
}

@Suite struct TrimmingTests {
    @Test func trimsASCIIWhiteSpaceAsGo() {
        #expect(" \t\r\nx y\r\n\u{0B}\u{0C}".trimmingWhitespace == "x y")
        #expect("  ".trimmingWhitespace == "")
        #expect("--a-".trimming("-") == "a")
    }
}

@Suite struct TextSearchTests {
    @Test func findsTextByteByByte() {
        let s = "a.tmp-12.tmp-3"
        #expect(s.firstRange(ofText: ".tmp-").map { s[$0.upperBound...] } == "12.tmp-3")
        #expect(s.containsText("12.t") && !s.containsText(".tmp-4") && !s.containsText("a.tmp-12.tmp-34") && s.containsText(""))
        // A partial match, then the match starting inside it.
        #expect("aab".firstRange(ofText: "ab").map { "aab".distance(from: "aab".startIndex, to: $0.lowerBound) } == 1)
        #expect("aaab".firstRange(ofText: "aab").map { "aaab".distance(from: "aaab".startIndex, to: $0.lowerBound) } == 1)
        #expect("".firstRange(ofText: "x") == nil && "x".firstRange(ofText: "x") == "x".startIndex..<"x".endIndex)
        let sub = "xxname: \"n\" id: yy".dropFirst(2)
        #expect(sub.firstRange(ofText: "id: ").map { String(sub[$0.upperBound...]) } == "yy")
        #expect(sub.firstRange(ofText: "")?.lowerBound == sub.startIndex)
        #expect("é café".containsText("café") && !"cafe\u{301}".containsText("café"))   // bytes, not canonical equivalence
    }

    @Test func replacesEveryOccurrenceLeftToRight() {
        #expect(#"a\b"c"#.replacingText("\\", with: "\\\\").replacingText("\"", with: "\\\"") == #"a\\b\"c"#)
        #expect("aaa".replacingText("aa", with: "b") == "ba" && "abc".replacingText("x", with: "y") == "abc")
        #expect("".replacingText("a", with: "b") == "" && "aXbX".replacingText("X", with: "") == "ab")
        #expect("ab".replacingText("", with: "x") == "ab")
    }
}
