import Basics
import CNI
import CNIInvoke
import IPAddressing
import LinuxSystem
import PluginKit
import Testing

/// A plugin whose verbs are closures, recording the requests it got.
struct FakePlugin: Plugin {
    var about = "fake plugin v1"
    var supportedVersions: [CNIVersion] = CNIVersion.allCases
    var onAdd: @Sendable (PluginRequest) throws -> CNIResult = { _ in
        CNIResult(interfaces: [.init(name: "eth0", sandbox: "/run/netns/x")],
                  ips: [.init(address: IPPrefix("10.0.0.2/24")!, gateway: IPAddress("10.0.0.1"), interface: 0)])
    }
    var onOther: @Sendable (PluginRequest) throws -> Void = { _ in }

    func add(_ r: PluginRequest) throws -> CNIResult { try onAdd(r) }
    func del(_ r: PluginRequest) throws { try onOther(r) }
    func check(_ r: PluginRequest) throws { try onOther(r) }
    func status(_ r: PluginRequest) throws { try onOther(r) }
    func gc(_ r: PluginRequest) throws { try onOther(r) }
}

struct Invocation {
    var env: [String: String]
    var stdin: String

    static func make(_ command: String, version: String = "1.0.0", stdin: String? = nil,
                     drop: [String] = [], set: [String: String] = [:]) -> Invocation {
        var env = ["CNI_COMMAND": command, "CNI_CONTAINERID": "ctr1", "CNI_NETNS": "/run/netns/x",
                   "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"]
        for d in drop { env[d] = nil }
        env.merge(set) { $1 }
        return Invocation(env: env, stdin: stdin ?? #"{"cniVersion":"\#(version)","name":"net1","type":"fake"}"#)
    }

    func run(_ plugin: FakePlugin = FakePlugin()) -> Skeleton.Output {
        let bytes = Array(stdin.utf8)
        return Skeleton.run(plugin, environment: env) { () throws(SystemError) in bytes }
    }
}

extension Skeleton.Output {
    var json: JSONValue? { try? JSONValue.parse(stdout) }
    var code: Int? { json?["code"]?.intValue }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

@Suite struct SkeletonTests {
    @Test(arguments: [
        ("ADD", ["CNI_CONTAINERID"], "CNI_CONTAINERID"),
        ("ADD", ["CNI_NETNS", "CNI_IFNAME", "CNI_PATH"], "CNI_NETNS,CNI_IFNAME,CNI_PATH"),
        ("CHECK", ["CNI_NETNS"], "CNI_NETNS"),
        ("DEL", ["CNI_CONTAINERID", "CNI_IFNAME"], "CNI_CONTAINERID,CNI_IFNAME"),
        ("DEL", ["CNI_PATH"], "CNI_PATH"),
        ("GC", ["CNI_PATH"], "CNI_PATH"),
        ("STATUS", ["CNI_PATH"], "CNI_PATH"),
    ])
    func missingEnvironmentIsCodeFour(command: String, drop: [String], names: String) {
        let out = Invocation.make(command, version: "1.1.0", drop: drop).run()
        #expect(out.exitCode == 1)
        #expect(out.code == 4)
        #expect(out.json?["msg"] == .string("required env variables [\(names)] missing"))
    }

    @Test func optionalEnvironment() {
        // DEL without a netns; GC and STATUS without container, netns and ifname.
        #expect(Invocation.make("DEL", drop: ["CNI_NETNS", "CNI_ARGS"]).run().exitCode == 0)
        for cmd in ["GC", "STATUS"] {
            let out = Invocation.make(cmd, version: "1.1.0", drop: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]).run()
            #expect(out.exitCode == 0, "\(cmd): \(out.json.map { $0.serializedString() } ?? "")")
            #expect(out.stdout.isEmpty)
        }
    }

    @Test func noCommandPrintsAboutAndSucceeds() {
        let out = Invocation.make("", drop: ["CNI_COMMAND", "CNI_CONTAINERID"]).run()
        #expect(out.exitCode == 0)
        #expect(out.stdout.isEmpty)
        #expect(out.stderrText == "fake plugin v1 (swift-cni \(SwiftCNI.version))\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n")
    }

    @Test func unknownCommandIsCodeFour() {
        let out = Invocation.make("FROB").run()
        #expect(out.code == 4)
        #expect(out.json?["msg"] == "unknown CNI_COMMAND: FROB")
    }

    @Test func versionIgnoresStdinAndOtherVariables() {
        var inv = Invocation.make("VERSION", stdin: "not json", drop: ["CNI_CONTAINERID", "CNI_PATH"])
        inv.env["CNI_NETNS"] = "dummy"
        let out = inv.run()
        #expect(out.exitCode == 0)
        #expect(out.json == ["cniVersion": "1.1.0",
                             "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]])
    }

    @Test(arguments: [
        ("{", 6), ("[]", 6), (#"{"cniVersion":"1.0.0"}"#, 7), (#"{"cniVersion":"1.0.0","name":"bad name"}"#, 7),
        (#"{"cniVersion":"9.9.9","name":"n"}"#, 1), (#"{"cniVersion":"0.5.0","name":"n"}"#, 1),
    ])
    func badConfigs(stdin: String, code: Int) {
        for cmd in ["ADD", "DEL", "CHECK"] {
            let out = Invocation.make(cmd, stdin: stdin).run()
            #expect(out.exitCode == 1)
            #expect(out.code == code, "\(cmd) \(stdin)")
        }
    }

    @Test func stdinReadFailureIsCodeFive() {
        let env = Invocation.make("ADD").env
        let out = Skeleton.run(FakePlugin(), environment: env) { () throws(SystemError) in throw SystemError("read", errno: 5) }
        #expect(out.code == 5)
    }

    @Test(arguments: [("", 3), ("-x", 4), ("a b", 4), ("a/b", 4)])
    func badContainerID(id: String, code: Int) {
        for cmd in ["ADD", "DEL", "CHECK"] {
            var inv = Invocation.make(cmd, version: "0.4.0")
            inv.env["CNI_CONTAINERID"] = id
            // An empty one is "missing" for the env table already (code 4); test that separately.
            if id.isEmpty { continue }
            #expect(inv.run().code == code)
        }
    }

    @Test(arguments: ["abcdefghijklmnop", ".", "..", "a/b", "a:b", "a b"])
    func badInterfaceNameIsCodeFour(name: String) {
        #expect(Invocation.make("ADD", set: ["CNI_IFNAME": name]).run().code == 4)
    }

    @Test(arguments: ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
    func checkBelowZeroFourIsCodeOne(version: String) {
        let out = Invocation.make("CHECK", version: version).run()
        #expect(out.code == 1)
        #expect(out.json?["msg"] == "config version does not allow CHECK")
        #expect(out.json?["cniVersion"] == .string(version))
    }

    @Test(arguments: ["STATUS", "GC"], ["0.4.0", "1.0.0"])
    func statusAndGCBelowOneOneAreCodeOne(command: String, version: String) {
        let out = Invocation.make(command, version: version).run()
        #expect(out.code == 1)
        #expect(out.json?["msg"] == .string("config version does not allow \(command)"))
    }

    @Test func versionOutsidePluginsListIsCodeOne() {
        var p = FakePlugin()
        p.supportedVersions = [.v1_0_0]
        let out = Invocation.make("ADD", version: "0.4.0").run(p)
        #expect(out.code == 1)
        #expect(out.json?["details"] == #"config is "0.4.0", plugin supports ["1.0.0"]"#)
    }

    @Test(arguments: CNIVersion.allCases)
    func addPrintsTheResultInTheConfigVersion(version: CNIVersion) throws {
        let out = Invocation.make("ADD", version: version.rawValue).run()
        #expect(out.exitCode == 0)
        let json = try #require(out.json)
        #expect(json["cniVersion"] == .string(version.rawValue))
        switch version.resultShape {
        case .legacy: #expect(json["ip4"]?["ip"] == "10.0.0.2/24")
        case .v04: #expect(json["ips"]?.arrayValue?.first?["version"] == "4")
        case .v1: #expect(json["ips"]?.arrayValue?.first?["version"] == nil)
        }
    }

    @Test func layerTwoResultCannotBePrintedAsZeroTwoAndIsUndone() {
        nonisolated(unsafe) var undone: [Command] = []
        var p = FakePlugin()
        p.onAdd = { _ in CNIResult(interfaces: [.init(name: "eth0")]) }
        p.onOther = { undone.append($0.command) }
        let out = Invocation.make("ADD", version: "0.2.0").run(p)
        #expect(out.code == 1)
        #expect(out.json?["msg"] == "cannot convert: no valid IP addresses")
        #expect(undone == [.del])
    }

    @Test func pluginErrorsKeepTheirCodeOthersAre999() {
        var p = FakePlugin()
        p.onOther = { _ in throw CNIError(.tryAgainLater, "busy", details: "later") }
        let out = Invocation.make("DEL", version: "0.3.1").run(p)
        #expect(out.json == ["cniVersion": "0.3.1", "code": 11, "msg": "busy", "details": "later"])
        struct Odd: Error {}
        p.onOther = { _ in throw Odd() }
        #expect(Invocation.make("DEL").run(p).code == 999)
    }

    @Test func requestCarriesEverything() throws {
        nonisolated(unsafe) var seen: PluginRequest?
        var p = FakePlugin()
        p.onOther = { seen = $0 }
        let inv = Invocation.make("DEL", set: ["CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=a", "CNI_PATH": "/a:/b"])
        #expect(inv.run(p).exitCode == 0)
        let r = try #require(seen)
        #expect(r.command == .del && r.containerID == "ctr1" && r.netns == "/run/netns/x" && r.ifName == "eth0")
        #expect(r.path == ["/a", "/b"])
        #expect(r.version == .v1_0_0)
        #expect(r.stdin == Array(inv.stdin.utf8))
        #expect(try r.cniArgs(known: [])["K8S_POD_NAME"] == "a")
    }
}

extension SkeletonTests {
    @Test func ownNamespaceAsCNINetnsIsCodeEight() {
        for cmd in ["ADD", "DEL", "CHECK"] {
            let out = Invocation.make(cmd, version: "1.0.0", set: ["CNI_NETNS": "/proc/self/ns/net"]).run()
            #expect(out.code == 8, "\(cmd)")
            #expect(out.json?["msg"] == "plugin's netns and netns from CNI_NETNS should not be the same")
        }
        for knob in ["1", "true", "TRUE"] {
            #expect(Invocation.make("DEL", set: ["CNI_NETNS": "/proc/self/ns/net", "CNI_NETNS_OVERRIDE": knob]).run().exitCode == 0)
        }
        // A path that does not exist (a DEL after the pod is gone) is the plugin's business.
        #expect(Invocation.make("DEL", set: ["CNI_NETNS": "/nonexistent/netns"]).run().exitCode == 0)
    }
}
