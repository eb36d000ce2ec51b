import CNI
import Foundation
import HostLocal
import PluginKit
import Static
import Testing
import TestSupport

/// Every file in Conf/ decodes; the IPAM examples also run (with a temporary dataDir).
@Suite struct ConfExampleTests {
    static let confDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Conf").path
    static let files = ((try? FileManager.default.contentsOfDirectory(atPath: confDir)) ?? [])
        .filter { $0.hasSuffix(".conf") || $0.hasSuffix(".conflist") || $0.hasSuffix(".json") }.sorted()

    @Test func thereAreExamples() { #expect(Self.files.count >= 3) }

    @Test(arguments: files)
    func decodes(file: String) throws {
        let bytes = try #require(FileManager.default.contents(atPath: Self.confDir + "/" + file))
        let json = try JSONValue.parse(Array(bytes))
        var configs: [NetConf] = []
        if let plugins = json["plugins"]?.arrayValue {
            for p in plugins {
                var o = try #require(p.objectValue)
                o["name"] = json["name"]; o["cniVersion"] = json["cniVersion"]
                configs.append(try NetConf(json: .object(o)))
            }
        } else {
            // A NAD's config may leave out "name": Multus fills it with the NAD's name.
            var o = try #require(json.objectValue)
            if o["name"] == nil { o["name"] = "nad-name" }
            configs.append(try NetConf(json: .object(o)))
        }
        #expect(!configs.isEmpty)
        for c in configs { _ = try c.version() }
    }

    @Test func hostLocalExamplesAllocate() throws {
        let d = try TemporaryDirectory("swcni-conf")
        defer { d.remove() }
        for (file, expected) in [("host-local-ranges.conf", ["10.10.1.20/16", "3ffe:ffff:0:1ff::10/64"]),
                                 ("host-local-legacy.conf", ["10.10.1.20/16"])] {
            var conf = try JSONValue.parse(Array(FileManager.default.contents(atPath: Self.confDir + "/" + file)!)).objectValue!
            var ipam = conf["ipam"]!.objectValue!
            ipam["dataDir"] = .string(d.path)
            conf["ipam"] = .object(ipam)
            let out = PluginCall("ADD", config: JSONValue.object(conf).serializedString()).run(HostLocalPlugin())
            try #require(out.exitCode == 0, "\(file): \(out.text)")
            let ips = out.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue }
                ?? [out.json?["ip4"]?["ip"]?.stringValue].compactMap { $0 }
            #expect(ips == expected, "\(file)")
        }
    }

    @Test func staticExampleAnswers() throws {
        let text = String(decoding: FileManager.default.contents(atPath: Self.confDir + "/static.conf")!, as: UTF8.self)
        let out = PluginCall("ADD", config: text).run(StaticPlugin())
        #expect(out.json?["ips"] == [["address": "10.10.0.1/24", "gateway": "10.10.0.254"],
                                     ["address": "3ffe:ffff:0:1ff::1/64", "gateway": "3ffe:ffff::1"]])
    }
}
