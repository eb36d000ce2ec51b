import CNI
import Foundation
import Testing
import TestSupport

/// Our cnitool drives Debian's Go reference plugins (macvlan + host-local) in namespaces made by
/// the test, and interoperates with a libcni-based tool through the shared result cache.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct CNIToolReferencePluginTests {
    let cnitool = BuildProducts.path("cnitool")

    func macvlanConflist(_ s: HostAndPod, version: String, subnet: String = "10.77.0.0/24") -> String {
        #"""
        {"cniVersion":"\#(version)","name":"mvnet","plugins":[{"type":"macvlan","master":"\#(s.parent)","mode":"bridge",
         "ipam":{"type":"host-local","subnet":"\#(subnet)","dataDir":"\#(s.dataDir)","routes":[{"dst":"0.0.0.0/0"}]}}]}
        """#
    }

    /// Reservation files host-local holds for the network.
    func reservations(_ s: HostAndPod) -> [String: String] {
        let dir = s.dataDir + "/mvnet"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var out: [String: String] = [:]
        for n in names where n != "lock" && !n.hasPrefix("last_reserved_ip") && !n.hasPrefix(".owner-") {
            out[n] = try? String(contentsOfFile: dir + "/" + n, encoding: .utf8)
        }
        return out
    }

    @Test(arguments: ["1.0.0", "0.4.0"])
    func addCheckDelDelAgain(version: String) throws {
        let s = try HostAndPod()
        try s.writeConflist("10-mvnet", macvlanConflist(s, version: version))

        let add = try s.tool(cnitool, "add", "mvnet", s.pod.path)
        #expect(add.status == 0, "\(add.stderr)")
        let result = try #require(add.json)
        #expect(result["cniVersion"] == .string(version))
        let iface = try #require(result["interfaces"]?.arrayValue?.first)
        #expect(iface["name"] == "eth0" && iface["sandbox"] == .string(s.pod.path))
        let ip = try #require(result["ips"]?.arrayValue?.first)
        let address = try #require(ip["address"]?.stringValue)
        #expect(ip["version"] == (version == "0.4.0" ? "4" : nil))

        // What the kernel holds in the pod: a macvlan named eth0 with that MAC and address.
        let link = try #require(try s.pod.link("eth0"))
        #expect(link["linkinfo"]?["info_kind"] == "macvlan")
        #expect(link["address"] == iface["mac"])
        #expect(try s.pod.addresses("eth0") == [address])
        // The store and the cache.
        #expect(reservations(s) == [String(address.split(separator: "/")[0]): "\(s.containerID)\r\neth0"])
        let cacheFile = "\(s.cacheDir)/results/mvnet-\(s.containerID)-eth0"
        #expect(FileManager.default.fileExists(atPath: cacheFile))

        let check = try s.tool(cnitool, "check", "mvnet", s.pod.path)
        #expect(check.status == 0, "\(check.stderr)")

        let del = try s.tool(cnitool, "del", "mvnet", s.pod.path)
        #expect(del.status == 0, "\(del.stderr)")
        #expect(try s.pod.link("eth0") == nil)
        #expect(reservations(s).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: cacheFile))

        let again = try s.tool(cnitool, "del", "mvnet", s.pod.path)
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func checkFailsOnceTheAddressIsGone() throws {
        let s = try HostAndPod()
        try s.writeConflist("10-mvnet", macvlanConflist(s, version: "1.0.0"))
        try #require(try s.tool(cnitool, "add", "mvnet", s.pod.path).status == 0)
        try s.pod.ip("addr", "flush", "dev", "eth0")
        let check = try s.tool(cnitool, "check", "mvnet", s.pod.path)
        #expect(check.status == 1)
        #expect(check.stderr.contains("cnitool: plugin type=\"macvlan\" failed (check)"))
        #expect(try s.tool(cnitool, "del", "mvnet", s.pod.path).status == 0)
    }

    @Test func goToolDeletesWhatOursAddedAndOursDeletesWhatItAdded() throws {
        let gocnitool = try GoCNITool.path.get()
        let s = try HostAndPod()
        try s.writeConflist("10-mvnet", macvlanConflist(s, version: "1.0.0"))

        try #require(try s.tool(cnitool, "add", "mvnet", s.pod.path).status == 0)
        let goCheck = try s.tool(gocnitool, "check", "mvnet", s.pod.path)
        #expect(goCheck.status == 0, "\(goCheck.stderr)")
        let goDel = try s.tool(gocnitool, "del", "mvnet", s.pod.path)
        #expect(goDel.status == 0, "\(goDel.stderr)")
        #expect(try s.pod.link("eth0") == nil)
        #expect(reservations(s).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.cacheDir + "/results").isEmpty)

        let goAdd = try s.tool(gocnitool, "add", "mvnet", s.pod.path)
        try #require(goAdd.status == 0, "\(goAdd.stderr)")
        #expect(try s.pod.link("eth0") != nil)
        let ourCheck = try s.tool(cnitool, "check", "mvnet", s.pod.path)
        #expect(ourCheck.status == 0, "\(ourCheck.stderr)")
        let ourDel = try s.tool(cnitool, "del", "mvnet", s.pod.path)
        #expect(ourDel.status == 0, "\(ourDel.stderr)")
        #expect(try s.pod.link("eth0") == nil)
        #expect(reservations(s).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.cacheDir + "/results").isEmpty)
    }

    @Test func gcRemovesAttachmentsNotListedAsValid() throws {
        let s = try HostAndPod()
        let pod2 = try NetNS("pod2")
        try s.writeConflist("10-mvnet", macvlanConflist(s, version: "1.0.0"))
        try #require(try s.tool(cnitool, "add", "mvnet", s.pod.path).status == 0)
        try #require(try s.tool(cnitool, "add", "mvnet", pod2.path).status == 0)
        #expect(reservations(s).count == 2)

        let gc = try s.tool(cnitool, "gc", "mvnet", "--valid", "\(s.containerID)/eth0")
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(try s.pod.link("eth0") != nil)
        #expect(try pod2.link("eth0") == nil)
        #expect(Array(reservations(s).values) == ["\(s.containerID)\r\neth0"])

        #expect(try s.tool(cnitool, "gc", "mvnet").status == 0)  // nothing valid: everything goes
        #expect(try s.pod.link("eth0") == nil)
        #expect(reservations(s).isEmpty)
    }

    @Test func cniArgsAndCapabilityArgsReachThePlugin() throws {
        let s = try HostAndPod()
        try s.writeConflist("10-mvnet", #"""
            {"cniVersion":"1.0.0","name":"mvnet","plugins":[{"type":"macvlan","master":"\#(s.parent)",
             "capabilities":{"ips":true},
             "ipam":{"type":"host-local","subnet":"10.78.0.0/24","dataDir":"\#(s.dataDir)"}}]}
            """#)
        // host-local takes the requested IP from runtimeConfig.ips (capability) over CNI_ARGS IP=.
        let add = try s.tool(cnitool, "add", "mvnet", s.pod.path,
                             env: ["CAP_ARGS": #"{"ips":["10.78.0.42/24"]}"#, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web"])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(try s.pod.addresses("eth0") == ["10.78.0.42/24"])
        #expect(try s.tool(cnitool, "del", "mvnet", s.pod.path).status == 0)
    }
}

/// cnitool's own error handling: one clear line, non-zero exit, no stack trace. No root needed.
@Suite struct CNIToolErrorTests {
    let cnitool = BuildProducts.path("cnitool")

    @Test func unknownNetworkAndBadEnvironment() throws {
        let d = try TemporaryDirectory("swcni-tool")
        defer { d.remove() }
        try d.write("net.d/a.conflist", #"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"nope"}]}"#)
        let env = ["NETCONFPATH": d.file("net.d"), "CNI_PATH": d.path, "CNI_CACHE_DIR": d.file("cache")]

        let missing = try Command.run([cnitool, "add", "zzz", "/var/run/netns/x"], env: env)
        #expect(missing.status == 1)
        #expect(missing.stderr == "cnitool: no net configuration with name \"zzz\" in \(d.file("net.d"))\n")

        var badArgs = env
        badArgs["CNI_ARGS"] = "A=1;B"
        let args = try Command.run([cnitool, "add", "a", "/var/run/netns/x"], env: badArgs)
        #expect(args.status == 1 && args.stderr == "cnitool: invalid CNI_ARGS pair \"B\"\n")

        var badCaps = env
        badCaps["CAP_ARGS"] = "[1]"
        #expect(try Command.run([cnitool, "add", "a", "/x"], env: badCaps).stderr == "cnitool: CAP_ARGS is not a JSON object\n")

        let noPlugin = try Command.run([cnitool, "add", "a", "/var/run/netns/x"], env: env)
        #expect(noPlugin.status == 1)
        #expect(noPlugin.stderr.hasPrefix("cnitool: plugin type=\"nope\" failed (add): failed to find plugin \"nope\""))

        // Before 1.1.0 there is no STATUS: the network counts as ready, as with libcni.
        let status = try Command.run([cnitool, "status", "a"], env: env)
        #expect(status.status == 0 && status.stderr.isEmpty)

        let usage = try Command.run([cnitool, "add"], env: env)
        #expect(usage.status != 0 && usage.stderr.contains("Missing expected argument"))
    }

    @Test func versionOfAReferencePlugin() throws {
        let out = try Command.run([cnitool, "version", "host-local"], env: ["CNI_PATH": "/usr/lib/cni"])
        try #require(out.status == 0, "\(out.stderr)")
        #expect(out.json?["supportedVersions"]?.arrayValue?.contains("1.0.0") == true)
    }
}
