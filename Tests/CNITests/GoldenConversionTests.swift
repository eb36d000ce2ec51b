import CNI
import Foundation
import Testing

/// Every conversion pair 0.1.0…1.0.0 against files printed by the reference library
/// (Golden/generate.go): same bytes, same errors.
@Suite struct GoldenConversionTests {
    static let goVersions: [CNIVersion] = [.v0_1_0, .v0_2_0, .v0_3_0, .v0_3_1, .v0_4_0, .v1_0_0]
    static let pairs = goVersions.flatMap { f in goVersions.map { (f, $0) } }

    static func golden(_ name: String) -> String? {
        guard let url = Bundle.module.url(forResource: "Golden/" + name, withExtension: nil) else { return nil }
        return try? String(contentsOf: url, encoding: .utf8)
    }

    @Test(arguments: ["", "l2-"], pairs)
    func conversionMatchesReference(prefix: String, pair: (CNIVersion, CNIVersion)) throws {
        let (from, to) = pair
        guard let source = Self.golden("\(prefix)from-\(from.rawValue).json") else {
            // The reference could not print this source version at all (L2-only ≤ 0.2.0).
            #expect(Self.golden("\(prefix)from-\(from.rawValue).error") != nil)
            return
        }
        let result = try CNIResult(json: JSONValue.parse(source), version: from)
        if let expected = Self.golden("\(prefix)\(from.rawValue)-to-\(to.rawValue).json") {
            let ours = String(decoding: try result.json(version: to).prettyPrinted(), as: UTF8.self) + "\n"
            #expect(ours == expected)
        } else {
            let expectedError = try #require(Self.golden("\(prefix)\(from.rawValue)-to-\(to.rawValue).error"))
            let error = #expect(throws: CNIError.self) { try result.json(version: to) }
            #expect(error?.msg == expectedError.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(error?.code == 1)
        }
    }

    @Test func readingAResultNamingItsOwnVersion() throws {
        let text = try #require(Self.golden("from-0.2.0.json"))
        let r = try CNIResult(json: JSONValue.parse(text), fallback: .v1_0_0)
        #expect(r.ips.count == 2)
        #expect(r.interfaces.isEmpty)
    }
}

@Suite struct CurrentVersionResultTests {
    static let full: JSONValue = [
        "cniVersion": "1.1.0",
        "interfaces": [["name": "eth0", "mac": "0a:58:0a:01:00:05", "mtu": 9000, "sandbox": "/run/netns/x",
                        "socketPath": "/run/vhost.sock", "pciID": "0000:04:00.5"]],
        "ips": [["interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"]],
        "routes": [["dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "advmss": 1360, "priority": 100,
                    "table": 200, "scope": 0]],
    ]

    @Test func newFieldsSurviveOneOneAndOneZero() throws {
        let r = try CNIResult(json: Self.full, version: .v1_1_0)
        #expect(try r.json(version: .v1_1_0) == Self.full)
        var expected10 = Self.full.objectValue!
        expected10["cniVersion"] = "1.0.0"
        #expect(try r.json(version: .v1_0_0) == .object(expected10))
    }

    @Test(arguments: [CNIVersion.v0_3_0, .v0_3_1, .v0_4_0])
    func newFieldsDroppedBelowOneZero(version: CNIVersion) throws {
        let r = try CNIResult(json: Self.full, version: .v1_1_0)
        let expected: JSONValue = [
            "cniVersion": .string(version.rawValue),
            "interfaces": [["name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/run/netns/x"]],
            "ips": [["version": "4", "interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"]],
            "routes": [["dst": "0.0.0.0/0", "gw": "10.1.0.1"]],
        ]
        #expect(try r.json(version: version) == expected)
    }

    @Test(arguments: CNIVersion.allCases)
    func emptyDNSIsOmitted(version: CNIVersion) throws {
        let r = CNIResult(ips: [.init(address: IPPrefixLiteral("10.0.0.2/24"))])
        #expect(try r.json(version: version)["dns"] == nil)
    }

    /// Go keeps `interface` as a plain index and never checks its range when decoding; the code
    /// that applies addresses does (InterfaceConfigurator).
    @Test func anOutOfRangeInterfaceIndexStillDecodes() throws {
        let r = try CNIResult(json: ["ips": [["interface": 3, "address": "10.0.0.3/24"]], "interfaces": [["name": "a"]]], version: .v1_0_0)
        #expect(r.ips.first?.interface == 3)
    }

    @Test func invalidResultsAreDecodingFailures() {
        let bad: [JSONValue] = [
            ["ips": [["address": "10.0.0.300/24"]]],
            ["ips": [["address": "10.0.0.3"]]],
            ["routes": [["gw": "10.0.0.1"]]],
            ["routes": [["dst": "10.0.0.0/8", "table": -1]]],
            ["routes": [["dst": "10.0.0.0/8", "scope": 300]]],
            "not an object",
        ]
        for b in bad {
            let e = #expect(throws: CNIError.self) { try CNIResult(json: b, version: .v1_0_0) }
            #expect(e?.code == 6)
        }
    }
}

import IPAddressing
func IPPrefixLiteral(_ s: String) -> IPPrefix { IPPrefix(s)! }
