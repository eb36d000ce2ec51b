import CNI
import Foundation
import Testing
import TestSupport

/// Our macvlan (with our host-local) in namespaces made by the test; kernel state read back
/// with `ip -j` in the pod namespace.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct MacvlanTests {
    let macvlan = BuildProducts.path("macvlan")

    func conf(_ s: HostAndPod, version: String = "1.0.0", extra: String = "", ipam: String? = nil) -> String {
        let ipamPart = ipam.map { #","ipam":\#($0)"# } ?? ""
        return #"{"cniVersion":"\#(version)","name":"mv","type":"macvlan","master":"\#(s.parent)"\#(extra)\#(ipamPart)}"#
    }

    func hostLocal(_ s: HostAndPod, v6: Bool = false) -> String {
        let ranges = v6 ? #"[[{"subnet":"10.70.0.0/24"}],[{"subnet":"fd00:70::/64"}]]"# : #"[[{"subnet":"10.70.0.0/24"}]]"#
        let routes = v6 ? #"[{"dst":"0.0.0.0/0"},{"dst":"::/0"},{"dst":"192.168.70.0/24","gw":"10.70.0.254"}]"#
                        : #"[{"dst":"0.0.0.0/0"},{"dst":"192.168.70.0/24","gw":"10.70.0.254"}]"#
        return #"{"type":"host-local","ranges":\#(ranges),"routes":\#(routes),"dataDir":"\#(s.dataDir)"}"#
    }

    func reservations(_ s: HostAndPod) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/mv")) ?? [])
            .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".owner-") }.sorted()
    }

    func linkInfo(_ ns: NetNS, _ name: String = "eth0") throws -> JSONValue? { try ns.link(name) }

    @Test(arguments: ["0.2.0", "0.4.0", "1.0.0", "1.1.0"])
    func resultMatchesTheKernelInEveryShape(version: String) throws {
        let s = try HostAndPod()
        let c = conf(s, version: version, ipam: hostLocal(s, v6: true))
        let add = try s.plugin(macvlan, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let result = try CNIResult(json: try #require(add.json), version: try #require(CNIVersion(rawValue: version)))
        let link = try #require(try linkInfo(s.pod))
        #expect(link["linkinfo"]?["info_kind"] == "macvlan")
        #expect(link["operstate"] == "UP" || link["flags"]?.arrayValue?.contains("UP") == true)
        if version != "0.2.0" {
            #expect(result.interfaces == [.init(name: "eth0", mac: link["address"]!.stringValue!, sandbox: s.pod.path)])
            #expect(result.ips.allSatisfy { $0.interface == 0 })
        }
        // Addresses: exactly the result's, none tentative (DAD settled: a v6 gateway is present).
        let addrs = try s.pod.ipJSON("addr", "show", "dev", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? []
        let global = addrs.filter { $0["scope"] == "global" }
        #expect(Set(global.compactMap { a in a["local"]?.stringValue.map { "\($0)/\(a["prefixlen"]!.intValue!)" } })
                == Set(result.ips.map(\.address.description)))
        #expect(!addrs.contains { $0["tentative"] == true || $0["dadfailed"] == true })
        // Routes: default via the gateway (fallback), the explicit one via its own gateway.
        let v4 = try s.pod.ipJSON("route", "show").arrayValue ?? []
        #expect(v4.contains { $0["dst"] == "default" && $0["gateway"] == "10.70.0.1" && $0["dev"] == "eth0" })
        #expect(v4.contains { $0["dst"] == "192.168.70.0/24" && $0["gateway"] == "10.70.0.254" })
        let v6 = try s.pod.ipJSON("-6", "route", "show").arrayValue ?? []
        #expect(v6.contains { $0["dst"] == "default" && $0["gateway"] == "fd00:70::1" })
        // The kernel announces the address on up.
        #expect(try s.pod.run(["cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify", "/proc/sys/net/ipv6/conf/eth0/ndisc_notify"],
                              env: [:]).stdout == "1\n1\n")
        #expect(reservations(s).count == 2)

        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        #expect(try linkInfo(s.pod) == nil)
        #expect(reservations(s).isEmpty)
    }

    @Test(arguments: ["bridge", "private", "vepa", "passthru", "source"])
    func everyMode(mode: String) throws {
        let s = try HostAndPod()
        let c = conf(s, extra: #","mode":"\#(mode)""#)
        let add = try s.plugin(macvlan, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(try linkInfo(s.pod)?["linkinfo"]?["info_data"]?["mode"] == .string(mode))
        #expect(add.json?["ips"] == nil)  // no ipam: L2 only
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        #expect(try linkInfo(s.pod) == nil)
    }

    @Test func badModeAndMTU() throws {
        let s = try HostAndPod()
        #expect(try s.plugin(macvlan, "ADD", conf(s, extra: #","mode":"weird""#)).json?["code"] == 7)
        let big = try s.plugin(macvlan, "ADD", conf(s, extra: #","mtu":9000"#))
        #expect(big.json?["code"] == 7)
        #expect(big.json?["msg"] == "invalid MTU 9000, must be [0, master MTU(1500)]")
        let ok = try s.plugin(macvlan, "ADD", conf(s, extra: #","mtu":1400,"bcqueuelen":100"#))
        #expect(ok.status == 0, "\(ok.stdout)")
        let link = try #require(try linkInfo(s.pod))
        #expect(link["mtu"] == 1400)
        #expect(link["linkinfo"]?["info_data"]?["bcqueuelen"] == 100)
        #expect(try s.plugin(macvlan, "ADD", conf(s)).json?["msg"] == "container veth name provided (eth0) already exists")
    }

    @Test func macFromEachSourceWithPrecedence() throws {
        let s = try HostAndPod()
        let cases: [(String, String, String)] = [
            (#","mac":"c2:00:00:00:00:01""#, "", "c2:00:00:00:00:01"),
            (#","mac":"c2:00:00:00:00:01""#, "MAC=c2:00:00:00:00:02", "c2:00:00:00:00:02"),
            (#","mac":"c2:00:00:00:00:01","runtimeConfig":{"mac":"c2:00:00:00:00:03"}"#, "MAC=c2:00:00:00:00:02", "c2:00:00:00:00:03"),
        ]
        for (extra, args, expected) in cases {
            let c = conf(s, extra: extra)
            let add = try s.plugin(macvlan, "ADD", c, args: args)
            try #require(add.status == 0, "\(add.stdout)")
            #expect(add.json?["interfaces"]?.arrayValue?.first?["mac"] == .string(expected))
            #expect(try linkInfo(s.pod)?["address"] == .string(expected))
            #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        }
        #expect(try s.plugin(macvlan, "ADD", conf(s, extra: #","mac":"01:00:5e:00:00:01""#)).json?["code"] == 7)
    }

    @Test func linkInContainer() throws {
        let s = try HostAndPod()
        try s.pod.ip("link", "add", "cmaster", "type", "veth", "peer", "name", "cpeer")
        try s.pod.ip("link", "set", "cmaster", "up")
        let c = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"cmaster","linkInContainer":true}"#
        let add = try s.plugin(macvlan, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let link = try #require(try linkInfo(s.pod, "net1") ?? linkInfo(s.pod))
        #expect(link["link"] == "cmaster")
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        #expect(try linkInfo(s.pod) == nil)
    }

    @Test func layerTwoOnlyCannotBeZeroTwoAndLeavesNothing() throws {
        let s = try HostAndPod()
        let out = try s.plugin(macvlan, "ADD", conf(s, version: "0.2.0"))
        #expect(out.json?["code"] == 1)
        #expect(try linkInfo(s.pod) == nil)
    }

    @Test func delMatrix() throws {
        let s = try HostAndPod()
        let c = conf(s, ipam: hostLocal(s))
        // DEL without ADD.
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        // DEL twice.
        #expect(try s.plugin(macvlan, "ADD", c).status == 0)
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        #expect(reservations(s).isEmpty)
        // DEL with the master deleted.
        #expect(try s.plugin(macvlan, "ADD", c).status == 0)
        try s.host.ip("link", "del", s.parent)
        let noMaster = try s.plugin(macvlan, "DEL", c)
        #expect(noMaster.status == 0, "\(noMaster.stdout)")
        #expect(reservations(s).isEmpty)
        // DEL with the netns deleted (and with an empty CNI_NETNS, as containerd sends).
        try s.host.ip("link", "add", s.parent, "type", "veth", "peer", "name", "vpeer1")
        try s.host.ip("link", "set", s.parent, "up")
        #expect(try s.plugin(macvlan, "ADD", c).status == 0)
        s.pod.delete()
        let noNetns = try s.plugin(macvlan, "DEL", c)
        #expect(noNetns.status == 0, "\(noNetns.stdout)")
        #expect(try s.plugin(macvlan, "DEL", c, netns: "").status == 0)
        #expect(reservations(s).isEmpty)
    }

    @Test func checkPassesThenFailsAfterTampering() throws {
        let s = try HostAndPod()
        let c = conf(s, ipam: hostLocal(s))
        let add = try s.plugin(macvlan, "ADD", c)
        try #require(add.status == 0)
        var withPrev = try JSONValue.parse(c).objectValue!
        withPrev["prevResult"] = add.json
        let checkConf = JSONValue.object(withPrev).serializedString()
        let ok = try s.plugin(macvlan, "CHECK", checkConf)
        #expect(ok.status == 0, "\(ok.stdout)")

        try s.pod.ip("link", "set", "eth0", "type", "macvlan", "mode", "private")
        let mode = try s.plugin(macvlan, "CHECK", checkConf)
        #expect(mode.status == 1)
        #expect(mode.json?["msg"] == "Container macvlan mode private does not match expected value: bridge")
        try s.pod.ip("link", "set", "eth0", "type", "macvlan", "mode", "bridge")
        #expect(try s.plugin(macvlan, "CHECK", checkConf).status == 0)

        try s.pod.ip("addr", "flush", "dev", "eth0")
        let addr = try s.plugin(macvlan, "CHECK", checkConf)
        #expect(addr.status == 1)
        #expect(addr.json?["msg"]?.stringValue?.hasPrefix("Failed to find ip 10.70.0.") == true)
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
    }

    /// The link is created in the pod under its final name: a host link of the same name (here
    /// the master itself) is no obstacle, and nothing appears in the host namespace meanwhile.
    @Test func podNameTakenInTheHostIsFine() throws {
        let s = try HostAndPod()
        let hostLinks = try s.host.ipJSON("link", "show").arrayValue?.count
        let add = try s.plugin(macvlan, "ADD", conf(s, ipam: hostLocal(s)), ifName: s.parent)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(try linkInfo(s.pod, s.parent)?["linkinfo"]?["info_kind"] == "macvlan")
        #expect(try s.host.ipJSON("link", "show").arrayValue?.count == hostLinks)
        #expect(try s.plugin(macvlan, "DEL", conf(s, ipam: hostLocal(s)), ifName: s.parent).status == 0)
        #expect(try linkInfo(s.pod, s.parent) == nil)
    }

    @Test func failureAfterIPAMUndoesEverything() throws {
        let s = try HostAndPod()
        // A route whose gateway is unreachable fails after the address was reserved.
        let ipam = #"{"type":"host-local","subnet":"10.71.0.0/24","dataDir":"\#(s.dataDir)","routes":[{"dst":"10.99.0.0/16","gw":"192.0.2.1"}]}"#
        let out = try s.plugin(macvlan, "ADD", conf(s, ipam: ipam))
        #expect(out.status == 1)
        #expect(out.json?["msg"]?.stringValue?.hasPrefix("failed to add route 10.99.0.0/16 via 192.0.2.1") == true)
        #expect(try linkInfo(s.pod) == nil)
        #expect(try s.pod.ipJSON("link", "show").arrayValue?.count == 1)  // only lo
        #expect(reservations(s).isEmpty)
    }

    @Test func masterVanishingMidAddUndoesEverything() throws {
        let s = try HostAndPod()
        // The test IPAM deletes the master while the ADD is under way, then answers.
        let log = s.dir.file("ipam.log")
        let ipam = #"""
            {"type":"cni-noop-ipam","log":"\#(log)","run":["/usr/sbin/ip","-n","\#(s.host.name)","link","del","\#(s.parent)"],
             "result":{"cniVersion":"1.0.0","ips":[{"address":"10.72.0.5/24","gateway":"10.72.0.1"}]}}
            """#
        try FileManager.default.createSymbolicLink(atPath: s.dir.file("cni-noop-ipam"), withDestinationPath: BuildProducts.path("cni-noop"))
        let out = try s.plugin(macvlan, "ADD", conf(s, ipam: ipam), cniPath: s.dir.path)
        #expect(out.status == 1)
        #expect(try linkInfo(s.pod) == nil)
        let calls = try jsonLines(String(contentsOfFile: log, encoding: .utf8)).map { $0["command"] }
        #expect(calls == ["ADD", "DEL"])  // the reservation was given back
    }

    @Test func failingIPAMLeavesNoLink() throws {
        let s = try HostAndPod()
        let ipam = #"{"type":"host-local","subnet":"10.73.0.0/30","dataDir":"\#(s.dataDir)"}"#
        #expect(try s.plugin(macvlan, "ADD", conf(s, ipam: ipam), containerID: "first").status == 0)
        let out = try s.plugin(macvlan, "ADD", conf(s, ipam: ipam), ifName: "net1", containerID: "second")
        #expect(out.json?["code"] == 110)
        #expect(try linkInfo(s.pod, "net1") == nil)
        #expect(try s.pod.ipJSON("link", "show").arrayValue?.count == 2)  // lo and the first eth0
    }

    /// OpenShift's documented macvlan attachment, unchanged but for the name Multus adds. Its
    /// master is "eth0", so the test's host namespace gets a link of that name; its host-local
    /// data goes to the default directory under a unique network name, removed afterwards.
    @Test func openShiftExampleWorksUnchanged() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer")
        try s.host.ip("link", "set", "eth0", "up")
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Conf/macvlan-openshift.json").path
        var conf = try JSONValue.parse(String(contentsOfFile: file, encoding: .utf8)).objectValue!
        let name = "swcni-openshift-\(uniqueSuffix())"
        conf["name"] = .string(name)
        defer { try? FileManager.default.removeItem(atPath: "/var/lib/cni/networks/\(name)") }
        let text = JSONValue.object(conf).serializedString()
        let add = try s.plugin(macvlan, "ADD", text, ifName: "net1")
        try #require(add.status == 0, "\(add.stdout)")
        #expect(add.json?["cniVersion"] == "0.3.0")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "192.168.2.10/24")
        #expect(try s.pod.addresses("net1") == ["192.168.2.10/24"])
        let routes = try s.pod.ipJSON("route", "show").arrayValue ?? []
        #expect(routes.contains { $0["dst"] == "default" && $0["gateway"] == "192.168.2.1" && $0["dev"] == "net1" })
        #expect(try s.plugin(macvlan, "DEL", text, ifName: "net1").status == 0)
        #expect(try s.pod.link("net1") == nil)
    }

    /// Without "master", the link of the host namespace's default route is the master.
    @Test func defaultMasterIsTheDefaultRouteInterface() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "uplink0", "type", "veth", "peer", "name", "uplink0peer")
        try s.host.ip("link", "set", "uplink0", "up")
        try s.host.ip("route", "add", "default", "dev", "uplink0")
        let c = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan"}"#
        let add = try s.plugin(macvlan, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let hostIndex = try #require(try s.host.link("uplink0")?["ifindex"]?.intValue)
        #expect(try s.pod.link("eth0")?["link_index"]?.intValue == hostIndex)
        #expect(try s.plugin(macvlan, "DEL", c).status == 0)
        // No default route and no master: a clear config error.
        try s.host.ip("route", "del", "default")
        #expect(try s.plugin(macvlan, "ADD", c).json?["code"] == 7)
        #expect(try s.pod.link("eth0") == nil)
    }

    /// Two pods on one segment with the same IPv6 address: the second ADD sees DAD fail, errors
    /// clearly and leaves nothing behind.
    @Test func duplicateAddressDetectionFailureIsAnErrorAndUndone() throws {
        let s = try HostAndPod()
        let pod2 = try NetNS("pod2")
        let c = conf(s, ipam: #"{"type":"static","addresses":[{"address":"fd00:74::5/64","gateway":"fd00:74::1"}]}"#)
        let first = try s.plugin(macvlan, "ADD", c, containerID: "one")
        try #require(first.status == 0, "\(first.stdout)")
        let second = try s.plugin(macvlan, "ADD", c, containerID: "two", netns: pod2.path)
        #expect(second.status == 1)
        #expect(second.json?["msg"]?.stringValue?.contains("failed duplicate address detection") == true, "\(second.stdout)")
        #expect(try pod2.link("eth0") == nil)
        #expect(try s.plugin(macvlan, "DEL", c, containerID: "one").status == 0)
    }

    /// STATUS and GC go to the IPAM delegate: a full range makes macvlan unavailable (50), and GC
    /// releases the reservations of attachments not listed as valid.
    @Test func statusAndGCGoToIPAM() throws {
        let s = try HostAndPod()
        let pod2 = try NetNS("pod2")
        let ipam = #"{"type":"host-local","subnet":"10.75.0.0/29","rangeEnd":"10.75.0.3","dataDir":"\#(s.dataDir)"}"#
        let c = conf(s, version: "1.1.0", ipam: ipam)
        #expect(try s.plugin(macvlan, "STATUS", c).status == 0)
        #expect(try s.plugin(macvlan, "ADD", c, containerID: "a").status == 0)
        #expect(try s.plugin(macvlan, "ADD", c, containerID: "b", netns: pod2.path).status == 0)
        let full = try s.plugin(macvlan, "STATUS", c)
        #expect(full.json?["code"] == 50, "\(full.stdout)")
        var gc = try JSONValue.parse(c).objectValue!
        gc["cni.dev/valid-attachments"] = [["containerID": "a", "ifname": "eth0"]]
        let out = try s.plugin(macvlan, "GC", JSONValue.object(gc).serializedString())
        #expect(out.status == 0, "\(out.stdout)")
        #expect(reservations(s) == ["10.75.0.2"])
        #expect(try s.plugin(macvlan, "STATUS", c).status == 0)
    }

    /// An IPAM delegate that reserves but prints garbage is still given its DEL.
    @Test func unreadableIPAMOutputIsReleased() throws {
        let s = try HostAndPod()
        let log = s.dir.file("ipam.log")
        try FileManager.default.createSymbolicLink(atPath: s.dir.file("cni-noop-ipam"), withDestinationPath: BuildProducts.path("cni-noop"))
        let ipam = #"{"type":"cni-noop-ipam","log":"\#(log)","result":{"cniVersion":"1.0.0","ips":[{"address":"not-an-address"}]}}"#
        let out = try s.plugin(macvlan, "ADD", conf(s, ipam: ipam), cniPath: s.dir.path)
        #expect(out.status == 1)
        #expect(try linkInfo(s.pod) == nil)
        let calls = try jsonLines(String(contentsOfFile: log, encoding: .utf8)).map { $0["command"] }
        #expect(calls.last == "DEL")
    }

    /// An IPAM route to the interface's own subnet (the gateway fallback makes it a gateway route
    /// beside the kernel's connected one) is accepted, as by the reference.
    @Test func aRouteBesideTheConnectedOneIsAccepted() throws {
        let s = try HostAndPod()
        let ipam = #"{"type":"host-local","subnet":"10.82.0.0/24","routes":[{"dst":"10.82.0.0/24"}],"dataDir":"\#(s.dataDir)"}"#
        let add = try s.plugin(macvlan, "ADD", conf(s, ipam: ipam))
        #expect(add.status == 0, "\(add.stdout)")
        #expect(try s.plugin(macvlan, "DEL", conf(s, ipam: ipam)).status == 0)
    }
}
