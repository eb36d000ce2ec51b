import CNI
import Foundation
import LinuxSystem
import NetNS
import Netlink
import Testing
import TestSupport

/// Tests that need kernel features the project machines lack (dummy links, 802.1Q VLANs,
/// ipvlan, bridge VLAN filtering). They run inside the qemu guest that
/// Integration/KernelLab/run-in-guest.sh boots (SWCNI_IN_GUEST=1), from the README's test command.
enum Guest {
    static let active = ProcessInfo.processInfo.environment["SWCNI_IN_GUEST"] == "1"
}

@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct GuestKernelTests {
    @Test func hostDeviceMovesADummyDevice() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "dum0", "type", "dummy")
        try s.host.ip("link", "set", "dum0", "address", "c2:00:00:00:0e:01")
        try s.host.ip("link", "set", "dum0", "up")
        let conf = #"{"cniVersion":"1.0.0","name":"hd","type":"host-device","hwaddr":"c2:00:00:00:0e:01","dataDir":"\#(s.dir.file("hd-state"))","ipam":{"type":"static","addresses":[{"address":"10.83.0.5/24"}]}}"#
        let hostDevice = BuildProducts.path("host-device")
        let add = try s.plugin(hostDevice, "ADD", conf, ifName: "net1")
        try #require(add.status == 0, "\(add.stdout)")
        let inPod = try #require(try s.pod.link("net1"))
        #expect(inPod["linkinfo"]?["info_kind"] == "dummy" && inPod["ifalias"] == "dum0")
        #expect(try s.pod.addresses("net1") == ["10.83.0.5/24"])
        #expect(try s.host.link("dum0") == nil)
        #expect(try s.plugin(hostDevice, "DEL", conf, ifName: "net1").status == 0)
        let back = try #require(try s.host.link("dum0"))
        // Given back as ADD found it: up (the reference returns it down).
        #expect(back["address"] == "c2:00:00:00:0e:01" && back["flags"]?.arrayValue?.contains("UP") == true)
    }

    @Test func macvlanOnADummyAndOnAVLANMaster() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "dum1", "type", "dummy")
        try s.host.ip("link", "set", "dum1", "up")
        try s.host.ip("link", "add", "link", "dum1", "name", "dum1.100", "type", "vlan", "id", "100")
        try s.host.ip("link", "set", "dum1.100", "up")
        let macvlan = BuildProducts.path("macvlan")
        for (master, ifName) in [("dum1", "eth0"), ("dum1.100", "net1")] {
            let conf = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"\#(master)","mode":"bridge","ipam":{"type":"host-local","subnet":"10.84.0.0/24","dataDir":"\#(s.dataDir)"}}"#
            let add = try s.plugin(macvlan, "ADD", conf, ifName: ifName, containerID: "c-\(ifName)")
            try #require(add.status == 0, "\(add.stdout)")
            let link = try #require(try s.pod.link(ifName))
            #expect(link["linkinfo"]?["info_kind"] == "macvlan")
            let hostMaster = try #require(try s.host.link(master))
            #expect(link["link_index"] == hostMaster["ifindex"])
        }
        #expect(try s.host.link("dum1.100")?["linkinfo"]?["info_data"]?["id"] == 100)
        // Deleting the VLAN master takes its macvlan with it; DEL still succeeds and releases.
        try s.host.ip("link", "del", "dum1.100")
        let conf = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"dum1.100","ipam":{"type":"host-local","subnet":"10.84.0.0/24","dataDir":"\#(s.dataDir)"}}"#
        #expect(try s.plugin(macvlan, "DEL", conf, ifName: "net1", containerID: "c-net1").status == 0)
        #expect(try s.pod.link("net1") == nil)
        let left = try FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/mv").filter { $0.hasPrefix("10.") }
        #expect(left.count == 1)  // only eth0's
    }

    /// Debian's 6.1 checks a new link's name in the asking socket's namespace (until 6.15): a
    /// pod interface named like a host link (here the master itself) still works — created under
    /// a temporary name and renamed in the pod — and nothing appears in the host meanwhile.
    @Test func aPodNameTheHostAlsoHas() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "dum2", "type", "dummy")
        try s.host.ip("link", "set", "dum2", "up")
        let hostLinks = try s.host.ipJSON("link", "show").arrayValue?.count
        for plugin in ["macvlan", "ipvlan"] {
            let conf = #"{"cniVersion":"1.0.0","name":"clash","type":"\#(plugin)","master":"dum2","ipam":{"type":"host-local","subnet":"10.86.0.0/24","dataDir":"\#(s.dataDir)"}}"#
            let add = try s.plugin(BuildProducts.path(plugin), "ADD", conf, ifName: "dum2", containerID: "c-\(plugin)")
            try #require(add.status == 0, "\(plugin): \(add.stdout)")
            #expect(try s.pod.link("dum2")?["linkinfo"]?["info_kind"]?.stringValue == plugin)
            #expect(try s.host.ipJSON("link", "show").arrayValue?.count == hostLinks)
            #expect(try s.plugin(BuildProducts.path(plugin), "DEL", conf, ifName: "dum2", containerID: "c-\(plugin)").status == 0)
            #expect(try s.pod.link("dum2") == nil)
        }
    }
}

/// ipvlan on Debian's kernel (the project machines' kernel has no ipvlan).
@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct IpvlanGuestTests {
    let ipvlan = BuildProducts.path("ipvlan")

    func scene() throws -> HostAndPod {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "ipm0", "type", "dummy")
        try s.host.ip("link", "set", "ipm0", "up")
        return s
    }

    func conf(_ s: HostAndPod, mode: String, version: String = "1.0.0", dataDir: String? = nil) -> String {
        #"""
        {"cniVersion":"\#(version)","name":"ipv","type":"ipvlan","master":"ipm0","mode":"\#(mode)",
         "ipam":{"type":"host-local","ranges":[[{"subnet":"10.86.0.0/24"}],[{"subnet":"fd00:86::/64"}]],
                 "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}],"dataDir":"\#(dataDir ?? s.dataDir)"}}
        """#
    }

    func reservations(_ s: HostAndPod) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/ipv")) ?? []).filter { $0.contains(".") || $0.contains(":") }
            .filter { !$0.hasPrefix("last_") && !$0.hasPrefix(".owner-") }.count
    }

    @Test(arguments: ["l2", "l3", "l3s"], ["0.4.0", "1.1.0"])
    func modesWithV4AndV6(mode: String, version: String) throws {
        let s = try scene()
        let c = conf(s, mode: mode, version: version)
        let add = try s.plugin(ipvlan, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let link = try #require(try s.pod.link("eth0"))
        #expect(link["linkinfo"]?["info_kind"] == "ipvlan")
        #expect(link["linkinfo"]?["info_data"]?["mode"] == .string(mode))
        // ipvlan shares the master's MAC; the result says so.
        #expect(link["address"] == (try s.host.link("ipm0"))?["address"])
        #expect(add.json?["interfaces"]?.arrayValue?.first?["mac"] == link["address"])
        let ips = Set(add.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? [])
        #expect(Set(try s.pod.addresses("eth0")) == ips && ips.count == 2)
        #expect(try s.pod.ipJSON("route", "show").arrayValue?.contains { $0["dst"] == "default" && $0["gateway"] == "10.86.0.1" } == true)
        var withPrev = try JSONValue.parse(c).objectValue!
        withPrev["prevResult"] = add.json
        #expect(try s.plugin(ipvlan, "CHECK", JSONValue.object(withPrev).serializedString()).status == 0)
        #expect(try s.plugin(ipvlan, "DEL", c).status == 0)
        #expect(try s.pod.link("eth0") == nil)
        #expect(reservations(s) == 0)
    }

    @Test func chainedOverAPreviousResult() throws {
        let s = try scene()
        try FileManager.default.createSymbolicLink(atPath: s.dir.file("cni-noop"), withDestinationPath: BuildProducts.path("cni-noop"))
        try FileManager.default.createSymbolicLink(atPath: s.dir.file("ipvlan"), withDestinationPath: ipvlan)
        try s.writeConflist("chain", #"""
            {"cniVersion":"1.0.0","name":"chain","plugins":[
              {"type":"cni-noop","noop":{"result":{"cniVersion":"1.0.0","interfaces":[{"name":"ipm0"}],
                "ips":[{"address":"10.87.0.5/24","gateway":"10.87.0.1","interface":0}],"routes":[{"dst":"10.88.0.0/16"}]}}},
              {"type":"ipvlan","mode":"l2"}]}
            """#)
        let add = try s.tool(BuildProducts.path("cnitool"), "add", "chain", s.pod.path, env: ["CNI_PATH": s.dir.path])
        try #require(add.status == 0, "\(add.stderr)")
        #expect(add.json?["interfaces"]?.arrayValue?.map { $0["name"] } == ["eth0"])
        #expect(try s.pod.addresses("eth0") == ["10.87.0.5/24"])
        #expect(try s.pod.link("eth0")?["link_index"] == (try s.host.link("ipm0"))?["ifindex"])
        #expect(try s.pod.ipJSON("route", "show").arrayValue?.contains { $0["dst"] == "10.88.0.0/16" && $0["gateway"] == "10.87.0.1" } == true)
        #expect(try s.tool(BuildProducts.path("cnitool"), "del", "chain", s.pod.path, env: ["CNI_PATH": s.dir.path]).status == 0)
        #expect(try s.pod.link("eth0") == nil)
    }

    @Test func delWithTheMasterGoneReleasesAndChecksFailAfterTampering() throws {
        let s = try scene()
        let c = conf(s, mode: "l2")
        let add = try s.plugin(ipvlan, "ADD", c)
        try #require(add.status == 0)
        var withPrev = try JSONValue.parse(c).objectValue!
        withPrev["prevResult"] = add.json
        try s.pod.ip("link", "set", "eth0", "type", "ipvlan", "mode", "l3")
        let check = try s.plugin(ipvlan, "CHECK", JSONValue.object(withPrev).serializedString())
        #expect(check.json?["msg"] == "Container ipvlan mode l3 does not match expected value: l2")
        try s.host.ip("link", "del", "ipm0")
        let del = try s.plugin(ipvlan, "DEL", c)
        #expect(del.status == 0, "\(del.stdout)")  // the reference fails here
        #expect(reservations(s) == 0)
        #expect(try s.plugin(ipvlan, "DEL", c).status == 0)
    }

    @Test func delMatrixMTUAndLinkInContainer() throws {
        let s = try scene()
        let c = conf(s, mode: "l2")
        #expect(try s.plugin(ipvlan, "DEL", c).status == 0)  // without ADD
        // MTU within the master's.
        var withMTU = try JSONValue.parse(c).objectValue!
        withMTU["mtu"] = 1400
        let mtuConf = JSONValue.object(withMTU).serializedString()
        try #require(try s.plugin(ipvlan, "ADD", mtuConf).status == 0)
        #expect(try s.pod.link("eth0")?["mtu"] == 1400)
        // DEL with the netns deleted: the reservation is still released.
        s.pod.delete()
        #expect(try s.plugin(ipvlan, "DEL", mtuConf).status == 0)
        #expect(reservations(s) == 0)
        // linkInContainer: the master lives in the pod.
        let pod2 = try NetNS("pod2")
        try pod2.ip("link", "add", "inner0", "type", "dummy")
        try pod2.ip("link", "set", "inner0", "up")
        let inner = #"{"cniVersion":"1.0.0","name":"ipv","type":"ipvlan","master":"inner0","linkInContainer":true,"mode":"l3","ipam":{"type":"static","addresses":[{"address":"10.89.0.5/24"}]}}"#
        let add = try s.plugin(ipvlan, "ADD", inner, netns: pod2.path)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(try pod2.link("eth0")?["link"] == "inner0")
        #expect(try s.plugin(ipvlan, "DEL", inner, netns: pod2.path).status == 0)
        #expect(try pod2.link("eth0") == nil)
    }

    @Test(arguments: ["l2", "l3"])
    func sameAsTheGoIpvlan(mode: String) throws {
        let s = try scene()
        func state() throws -> JSONValue {
            let l = try #require(try s.pod.link("eth0"))
            let addrs = (try s.pod.ipJSON("addr", "show", "dev", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? [])
                .filter { $0["scope"] == "global" }.map { a -> JSONValue in ["local": a["local"] ?? .null, "prefixlen": a["prefixlen"] ?? .null, "broadcast": a["broadcast"] ?? .null] }
            let routes = (try s.pod.ipJSON("route", "show").arrayValue ?? []) + (try s.pod.ipJSON("-6", "route", "show").arrayValue ?? [])
            let kept = routes.filter { $0["dst"]?.stringValue?.hasPrefix("fe80") != true }
                .map { r -> JSONValue in ["dst": r["dst"] ?? .null, "gateway": r["gateway"] ?? .null, "protocol": r["protocol"] ?? .null, "metric": r["metric"] ?? .null] }
            return ["mtu": l["mtu"] ?? .null, "flags": l["flags"] ?? .null, "mode": l["linkinfo"]?["info_data"]?["mode"] ?? .null,
                    "addresses": .array(addrs), "routes": .array(kept)]
        }
        let ours = try s.plugin(ipvlan, "ADD", conf(s, mode: mode, dataDir: s.dir.file("ours")))
        try #require(ours.status == 0, "\(ours.stdout)")
        let ourState = try state()
        #expect(try s.plugin(ipvlan, "DEL", conf(s, mode: mode, dataDir: s.dir.file("ours"))).status == 0)
        let go = try s.plugin("/usr/lib/cni/ipvlan", "ADD", conf(s, mode: mode, dataDir: s.dir.file("go")), cniPath: "/usr/lib/cni")
        try #require(go.status == 0, "\(go.stdout)")
        let goState = try state()
        #expect(try s.plugin("/usr/lib/cni/ipvlan", "DEL", conf(s, mode: mode, dataDir: s.dir.file("go")), cniPath: "/usr/lib/cni").status == 0)
        var o = ours.json!.objectValue!, g = go.json!.objectValue!
        if g["dns"] == .object(JSONObject()) { g["dns"] = nil }
        o["interfaces"] = nil; g["interfaces"] = nil
        #expect(JSONValue.object(o) == JSONValue.object(g))
        #expect(ours.json?["interfaces"]?.arrayValue?.first?["name"] == go.json?["interfaces"]?.arrayValue?.first?["name"])
        #expect(ourState == goState, "ours \(ourState.serializedString())\ngo   \(goState.serializedString())")
    }

    /// Fault injection (issue #18, item 2) for ipvlan: its nth step fails, n = 1, 2, … until ADD
    /// gets through; after each failure no link in the pod and no reservation.
    @Test func aFailedADDLeavesNothing() throws {
        let s = try scene()
        let c = conf(s, mode: "l2")
        var faults = 0
        for n in 1...60 {
            let add = try s.plugin(ipvlan, "ADD", c, extraEnv: ["SWCNI_FAULT": "ipvlan:\(n)"])
            if add.status == 0 { break }
            faults = n
            let code = add.json?["code"]?.intValue
            #expect(code != nil && code != 999, "step \(n): \(add.stdout)")
            #expect(try s.pod.link("eth0") == nil && reservations(s) == 0, "step \(n) left something: \(add.stdout)")
        }
        #expect(faults > 0)
        FileSystem.writeStderr("fault injection ipvlan: \(faults) faults, nothing left\n")
        #expect(try s.plugin(ipvlan, "DEL", c).status == 0)
        #expect(reservations(s) == 0)
    }
}

/// The Netlink module's bridge primitives against Debian's kernel (the project machines' bridge
/// has no VLAN filtering), read back with `bridge -j` — the base of the bridge plugin.
@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct BridgeNetlinkGuestTests {
    @Test func vlanFilteringPortFlagsAndVLANs() throws {
        let ns = try NetNS("br")
        let sock = try NetworkNamespace(path: ns.path).run { try NetlinkSocket() }
        try sock.createBridge(name: "br9", mtu: 1450, vlanFiltering: true)
        let br = try #require(try sock.link(named: "br9"))
        #expect(br.kind == "bridge" && br.mtu == 1450)
        #expect(try ns.link("br9")?["linkinfo"]?["info_data"]?["vlan_filtering"] == 1)
        try sock.createVeth(name: "p0", peer: "p0c")
        let port = try #require(try sock.link(named: "p0"))
        try sock.setMaster(index: port.index, masterIndex: br.index)
        #expect(try sock.link(index: port.index)?.masterIndex == br.index)
        try sock.setBridgePort(index: port.index, hairpin: true, isolated: true)
        let info = try ns.link("p0")?["linkinfo"]?["info_slave_data"]
        #expect(info?["hairpin"] == true && info?["isolated"] == true)

        // Access VLAN 100 (PVID, untagged), trunk 200, default VLAN 1 removed.
        try sock.setBridgeVLAN(index: port.index, BridgeVLAN(id: 1), remove: true)
        try sock.setBridgeVLAN(index: port.index, BridgeVLAN(id: 100, pvid: true, untagged: true))
        try sock.setBridgeVLAN(index: port.index, BridgeVLAN(id: 200))
        let shown = try ns.ipJSONBridge("vlan", "show", "dev", "p0")
        let vlans = shown.arrayValue?.first?["vlans"]?.arrayValue ?? []
        #expect(vlans.count == 2)
        let v100 = vlans.first { $0["vlan"] == 100 }, v200 = vlans.first { $0["vlan"] == 200 }
        #expect(v100?["flags"]?.arrayValue?.contains("PVID") == true && v100?["flags"]?.arrayValue?.contains("Egress Untagged") == true)
        #expect(v200 != nil && v200?["flags"] == nil)
        // The same through Netlink (what the bridge plugin's CHECK will read).
        #expect(try sock.bridgeVLANs(index: port.index) == [BridgeVLAN(id: 100, pvid: true, untagged: true), BridgeVLAN(id: 200)])
        try sock.setBridgeVLANFiltering(index: br.index, false)
        #expect(try ns.link("br9")?["linkinfo"]?["info_data"]?["vlan_filtering"] == 0)
        try sock.setMaster(index: port.index, masterIndex: 0)
        #expect(try sock.link(index: port.index)?.masterIndex == 0)
    }
}

extension NetNS {
    /// `bridge -j …` in the namespace, parsed.
    func ipJSONBridge(_ args: String...) throws -> JSONValue {
        let out = try Command.must(["ip", "netns", "exec", name, "bridge", "-j"] + args)
        return try JSONValue.parse(out.stdout.isEmpty ? "[]" : out.stdout)
    }
}


/// The DEL matrix's ipvlan rows (issue #18, item 1), on the guest's kernel.
@Suite(.enabled(if: Guest.active, "runs in the kernel-lab guest (Integration/KernelLab)"))
struct DelMatrixGuestTests {
    @Test(arguments: DelMatrixTests.Case.allCases)
    func ipvlanDelSucceedsAndLeavesNothing(delCase: DelMatrixTests.Case) throws {
        try DelMatrixTests.check(.ipvlanHostLocal, delCase)
    }
}

