import CNI
import Foundation
import Testing
import TestSupport

/// Our bridge plugin (with our host-local) on this machine's kernel: everything that needs no
/// VLAN filtering (that part runs in the guest, BridgeVLANGuestTests). The "host" namespace of
/// the scene is where the bridge, the host veths and the nftables rules live; all of it is read
/// back from the kernel there.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct BridgeTests {
    let bridge = BuildProducts.path("bridge")

    @Test(arguments: ["0.4.0", "1.0.0", "1.1.0"])
    func gatewayDefaultRouteAndCheck(version: String) throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, version: version, extra: #","isDefaultGateway":true"#, v6: true)
        let add = try s.plugin(bridge, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let result = try CNIResult(json: try #require(add.json), version: try #require(CNIVersion(rawValue: version)))
        // [bridge, host veth, pod veth]; the addresses belong to the pod's.
        #expect(result.interfaces.count == 3)
        #expect(result.interfaces[0] == .init(name: "swbr0", mac: try s.host.link("swbr0")?["address"]?.stringValue ?? "-"))
        let hostVeth = result.interfaces[1].name
        #expect(hostVeth.hasPrefix("veth") && result.interfaces[1].sandbox.isEmpty)
        #expect(result.interfaces[2] == .init(name: "eth0", mac: try s.pod.link("eth0")?["address"]?.stringValue ?? "-", sandbox: s.pod.path))
        #expect(result.ips.allSatisfy { $0.interface == 2 })
        #expect(Set(result.ips.compactMap { $0.gateway?.description }) == ["10.75.0.1", "fd00:75::1"])
        // Host side: the bridge is up with both gateways, our veth enslaved to it.
        let br = try #require(try s.host.link("swbr0"))
        #expect(br["linkinfo"]?["info_kind"] == "bridge" && br["flags"]?.arrayValue?.contains("UP") == true)
        #expect(Set(try s.host.addresses("swbr0")) == ["10.75.0.1/24", "fd00:75::1/64"])
        let port = try #require(try s.host.link(hostVeth))
        #expect(port["master"] == "swbr0" && port["linkinfo"]?["info_slave_kind"] == "bridge")
        #expect(port["operstate"] == "UP")
        #expect(try sysctl(s.host, "net/ipv4/ip_forward") == "1" && sysctl(s.host, "net/ipv6/conf/all/forwarding") == "1")
        #expect(try sysctl(s.host, "net/ipv6/conf/swbr0/accept_ra") == "0" && sysctl(s.host, "net/ipv6/conf/\(hostVeth)/accept_ra") == "0")
        // Pod side: the addresses, default routes through the gateways, DAD off, ARP notify on.
        #expect(Set(try s.pod.addresses("eth0")) == Set(result.ips.map(\.address.description)))
        #expect(try s.pod.ipJSON("route", "show").arrayValue?.contains { $0["dst"] == "default" && $0["gateway"] == "10.75.0.1" } == true)
        #expect(try s.pod.ipJSON("-6", "route", "show").arrayValue?.contains { $0["dst"] == "default" && $0["gateway"] == "fd00:75::1" } == true)
        #expect(try sysctl(s.pod, "net/ipv6/conf/eth0/accept_dad") == "0" && sysctl(s.pod, "net/ipv4/conf/eth0/arp_notify") == "1")
        #expect(try ping(s.pod, "10.75.0.1"))

        #expect(try s.plugin(bridge, "CHECK", BridgeConf.withPrev(c, add)).status == 0)
        if version == "1.1.0" {
            // STATUS asks the IPAM plugin: ready while the range has room.
            #expect(try s.plugin(bridge, "STATUS", c).status == 0)
        }
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        #expect(try s.pod.link("eth0") == nil && s.host.link(hostVeth) == nil)
        #expect(try s.host.link("swbr0") != nil)   // the bridge stays (other pods may use it)
        #expect(BridgeConf.reservations(s).isEmpty)
    }

    /// The older result shapes: 0.1.0/0.2.0 as ip4/ip6 objects, 0.3.x with interfaces and
    /// `version` per address. CHECK does not exist before 0.4.0.
    @Test(arguments: ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
    func olderSpecVersionsPrintTheirShape(version: String) throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, version: version, v6: true)
        let add = try s.plugin(bridge, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        let json = try #require(add.json)
        #expect(json["cniVersion"] == .string(version))
        if version.hasPrefix("0.3") {
            #expect(json["interfaces"]?.arrayValue?.count == 3)
            #expect(json["ips"]?.arrayValue?.map { $0["version"] } == ["4", "6"])
            #expect(json["ips"]?.arrayValue?.allSatisfy { $0["interface"] == 2 } == true)
        } else {
            #expect(json["interfaces"] == nil && json["ips"] == nil)
            #expect(json["ip4"]?["ip"] == "10.75.0.2/24" && json["ip4"]?["gateway"] == "10.75.0.1")
            #expect(json["ip6"]?["ip"] == "fd00:75::2/64" && json["ip6"]?["gateway"] == "fd00:75::1")
        }
        #expect(Set(try s.pod.addresses("eth0")) == ["10.75.0.2/24", "fd00:75::2/64"])
        #expect(try s.plugin(bridge, "CHECK", c).status != 0)
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        #expect(try s.pod.link("eth0") == nil && BridgeConf.reservations(s).isEmpty)
    }

    @Test func podsOnOneBridgeTalkUnlessTheirPortsAreIsolated() throws {
        let s = try HostAndPod()
        let pod2 = try NetNS("pod2")
        let c = BridgeConf.make(s, extra: #","hairpinMode":true"#)
        let a = try s.plugin(bridge, "ADD", c, containerID: "a")
        let b = try s.plugin(bridge, "ADD", c, containerID: "b", netns: pod2.path)
        try #require(a.status == 0 && b.status == 0, "\(a.stdout) \(b.stdout)")
        let ipB = try #require(try pod2.addresses("eth0").first?.split(separator: "/").first.map(String.init))
        #expect(try ping(s.pod, ipB))
        let portA = try #require(a.json?["interfaces"]?.arrayValue?.dropFirst(1).first?["name"]?.stringValue)
        #expect(try s.host.link(portA)?["linkinfo"]?["info_slave_data"]?["hairpin"] == true)
        #expect(try s.host.link(portA)?["linkinfo"]?["info_slave_data"]?["isolated"] == false)

        // Isolated ports cannot reach each other (but still reach the bridge's own address).
        let iso = BridgeConf.make(s, extra: #","portIsolation":true"#)
        #expect(try s.plugin(bridge, "DEL", c, containerID: "a").status == 0)
        #expect(try s.plugin(bridge, "DEL", c, containerID: "b", netns: pod2.path).status == 0)
        let a2 = try s.plugin(bridge, "ADD", iso, containerID: "a")
        let b2 = try s.plugin(bridge, "ADD", iso, containerID: "b", netns: pod2.path)
        try #require(a2.status == 0 && b2.status == 0, "\(a2.stdout) \(b2.stdout)")
        let port2 = try #require(a2.json?["interfaces"]?.arrayValue?.dropFirst(1).first?["name"]?.stringValue)
        #expect(try s.host.link(port2)?["linkinfo"]?["info_slave_data"]?["isolated"] == true)
        let ipB2 = try #require(try pod2.addresses("eth0").first?.split(separator: "/").first.map(String.init))
        #expect(try !ping(s.pod, ipB2))
        #expect(try ping(s.pod, "10.75.0.1"))
        #expect(try s.plugin(bridge, "DEL", iso, containerID: "a").status == 0)
        #expect(try s.plugin(bridge, "DEL", iso, containerID: "b", netns: pod2.path).status == 0)
        #expect(BridgeConf.reservations(s).isEmpty)
    }

    @Test func macMTUPromiscAndDAD() throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, extra: #","mtu":1400,"promiscMode":true,"enabledad":true,"args":{"cni":{"mac":"02:aa:00:00:00:02"}},"runtimeConfig":{"mac":"02:aa:00:00:00:03"}"#)
        let add = try s.plugin(bridge, "ADD", c, args: "IgnoreUnknown=1;MAC=02:aa:00:00:00:01")
        try #require(add.status == 0, "\(add.stdout)")
        let link = try #require(try s.pod.link("eth0"))
        #expect(link["address"] == "02:aa:00:00:00:03")   // runtimeConfig beats args.cni beats CNI_ARGS
        #expect(link["mtu"] == 1400)
        let port = try #require(add.json?["interfaces"]?.arrayValue?.dropFirst(1).first?["name"]?.stringValue)
        #expect(try s.host.link(port)?["mtu"] == 1400 && s.host.link("swbr0")?["mtu"] == 1400)
        #expect(try s.host.link("swbr0")?["flags"]?.arrayValue?.contains("PROMISC") == true)
        #expect(try sysctl(s.pod, "net/ipv6/conf/eth0/accept_dad") == "1" && sysctl(s.pod, "net/ipv6/conf/eth0/enhanced_dad") == "1")
        #expect(try s.plugin(bridge, "CHECK", BridgeConf.withPrev(c, add)).status == 0)
        // CHECK notices a bridge that is no longer promiscuous, and a lost address.
        try s.host.ip("link", "set", "swbr0", "promisc", "off")
        #expect(try s.plugin(bridge, "CHECK", BridgeConf.withPrev(c, add)).json?["msg"]?.stringValue?.contains("Promisc") == true)
        try s.host.ip("link", "set", "swbr0", "promisc", "on")
        try s.pod.ip("addr", "flush", "dev", "eth0", "scope", "global")
        #expect(try s.plugin(bridge, "CHECK", BridgeConf.withPrev(c, add)).status != 0)
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
    }

    @Test func withoutIPAMAndWithTheContainerInterfaceDisabled() throws {
        let s = try HostAndPod()
        let l2 = #"{"cniVersion":"1.0.0","name":"brt","type":"bridge","bridge":"swbr0"}"#
        let add = try s.plugin(bridge, "ADD", l2)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(add.json?["ips"] == nil && add.json?["interfaces"]?.arrayValue?.count == 3)
        #expect(try s.pod.link("eth0")?["flags"]?.arrayValue?.contains("UP") == true)
        #expect(try s.plugin(bridge, "DEL", l2).status == 0)

        let off = #"{"cniVersion":"1.0.0","name":"brt","type":"bridge","bridge":"swbr0","disableContainerInterface":true}"#
        let add2 = try s.plugin(bridge, "ADD", off)
        try #require(add2.status == 0, "\(add2.stdout)")
        #expect(try s.pod.link("eth0")?["flags"]?.arrayValue?.contains("UP") == false)
        #expect(try s.plugin(bridge, "DEL", off).status == 0)
        // disableContainerInterface with IPAM is a config error, and nothing is created.
        let bad = BridgeConf.make(s, extra: #","disableContainerInterface":true"#)
        #expect(try s.plugin(bridge, "ADD", bad).json?["code"] == 7)
        #expect(try s.pod.link("eth0") == nil)
    }

    @Test func ipMasqAndMACSpoofCheckRulesAreReadBackRemovedAndCollected() throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, version: "1.1.0", extra: #","ipMasq":true,"macspoofchk":true"#)
        let add = try s.plugin(bridge, "ADD", c, containerID: "ctr1")
        try #require(add.status == 0, "\(add.stdout)")
        let ip = try #require(try s.pod.addresses("eth0").first?.split(separator: "/").first.map(String.init))
        let mac = try #require(try s.pod.link("eth0")?["address"]?.stringValue)
        let port = try #require(add.json?["interfaces"]?.arrayValue?.dropFirst(1).first?["name"]?.stringValue)

        let masq = try rules(s.host, chain: "masq_checks")
        #expect(masq.count == 1)
        let rule = try #require(masq.first)
        #expect(rule["family"] == "inet" && rule["table"] == "cni_plugins_masquerade")
        #expect(rule["comment"]?.stringValue?.hasSuffix(", net: brt, if: eth0, id: ctr1") == true)
        let exprs = rule["expr"]?.arrayValue ?? []
        #expect(exprs.contains { $0["match"]?["right"] == .string(ip) && $0["match"]?["op"] == "==" })
        #expect(exprs.contains { $0["match"]?["right"]?["prefix"]?["addr"] == "10.75.0.0" && $0["match"]?["op"] == "!=" })
        #expect(exprs.contains { $0["masquerade"] != nil })
        #expect(try rules(s.host, chain: "postrouting").count == 3)

        let spoof = try rules(s.host, chain: "cni-br-iface-ctr1-eth0-mac")
        #expect(spoof.count == 2 && spoof.allSatisfy { $0["family"] == "bridge" && $0["comment"] == "macspoofchk-ctr1-eth0" })
        #expect(spoof.first?["expr"]?.arrayValue?.contains { $0["match"]?["right"] == .string(mac) } == true)
        #expect(spoof.last?["expr"]?.arrayValue?.contains { $0["drop"] != nil } == true)
        #expect(try rules(s.host, chain: "PREROUTING").contains { r in
            r["expr"]?.arrayValue?.contains { $0["match"]?["right"] == .string(port) } == true })
        // The check is real: a forged source MAC gets nowhere, the pod's own does.
        #expect(try ping(s.pod, "10.75.0.1"))
        try s.pod.ip("link", "set", "eth0", "address", "02:bb:00:00:00:09")
        try s.pod.ip("neigh", "flush", "dev", "eth0")
        #expect(try !ping(s.pod, "10.75.0.1"))
        try s.pod.ip("link", "set", "eth0", "address", mac)

        // A second attachment, then GC keeping only it: the first one's masquerade rule goes.
        let pod2 = try NetNS("pod2")
        #expect(try s.plugin(bridge, "ADD", c, containerID: "ctr2", netns: pod2.path).status == 0)
        #expect(try rules(s.host, chain: "masq_checks").count == 2)
        var gcConf = try JSONValue.parse(c).objectValue!
        gcConf["cni.dev/valid-attachments"] = [["containerID": "ctr2", "ifname": "eth0"]]
        let gc = try s.plugin(bridge, "GC", JSONValue.object(gcConf).serializedString())
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(try rules(s.host, chain: "masq_checks").map { $0["comment"]?.stringValue?.hasSuffix("id: ctr2") } == [true])
        #expect(BridgeConf.reservations(s).count == 1)   // host-local's GC released ctr1's address

        // DEL removes everything of the attachment, also when the pod is already gone.
        #expect(try s.plugin(bridge, "DEL", c, containerID: "ctr1").status == 0)
        #expect(try rules(s.host, chain: "cni-br-iface-ctr1-eth0-mac").isEmpty)
        pod2.delete()
        #expect(try s.plugin(bridge, "DEL", c, containerID: "ctr2", netns: pod2.path).status == 0)
        #expect(try rules(s.host, chain: "masq_checks").isEmpty)
        #expect(try rules(s.host, chain: "cni-br-iface-ctr2-eth0-mac").isEmpty)
        #expect(try !rules(s.host, chain: "PREROUTING").contains { $0["expr"]?.arrayValue?.contains { $0["jump"] != nil } == true })
        #expect(BridgeConf.reservations(s).isEmpty)
    }

    @Test func iptablesBackendRulesTeardownAndGC() throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, version: "1.1.0", extra: #","ipMasq":true,"ipMasqBackend":"iptables""#, v6: true)
        let add = try s.plugin(bridge, "ADD", c, containerID: "ctr1")
        try #require(add.status == 0, "\(add.stdout)")
        let chain = try #require(try natRules(s.host).first { $0.hasPrefix("-N CNI-") }.map { String($0.dropFirst(3)) })
        let comment = #"-m comment --comment "name: \"brt\" id: \"ctr1\"""#
        #expect(try natRules(s.host).filter { $0.contains(chain) } == [
            "-N \(chain)",
            "-A POSTROUTING -s 10.75.0.2/32 \(comment) -j \(chain)",
            "-A \(chain) -d 10.75.0.0/24 \(comment) -j ACCEPT",
            "-A \(chain) ! -d 224.0.0.0/4 \(comment) -j MASQUERADE",
        ])
        #expect(try natRules(s.host, "ip6tables").filter { $0.contains(chain) } == [
            "-N \(chain)",
            "-A POSTROUTING -s fd00:75::2/128 \(comment) -j \(chain)",
            "-A \(chain) -d fd00:75::/64 \(comment) -j ACCEPT",
            "-A \(chain) ! -d ff00::/8 \(comment) -j MASQUERADE",
        ])
        #expect(try rules(s.host, chain: "masq_checks").isEmpty)   // nothing in nftables' own layout
        // GC keeping another attachment removes these (the reference's iptables backend has no GC).
        var gcConf = try JSONValue.parse(c).objectValue!
        gcConf["cni.dev/valid-attachments"] = [["containerID": "other", "ifname": "eth0"]]
        let gc = try s.plugin(bridge, "GC", JSONValue.object(gcConf).serializedString())
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(try natRules(s.host).filter { $0.contains("CNI-") }.isEmpty && natRules(s.host, "ip6tables").filter { $0.contains("CNI-") }.isEmpty)
        // DEL removes them too, also with the namespace gone.
        #expect(try s.plugin(bridge, "DEL", c, containerID: "ctr1").status == 0)
        let pod2 = try NetNS("pod2")
        #expect(try s.plugin(bridge, "ADD", c, containerID: "ctr2", netns: pod2.path).status == 0)
        #expect(try natRules(s.host).contains { $0.hasPrefix("-N CNI-") })
        pod2.delete()
        #expect(try s.plugin(bridge, "DEL", c, containerID: "ctr2", netns: pod2.path).status == 0)
        #expect(try natRules(s.host).filter { $0.contains("CNI-") }.isEmpty && natRules(s.host, "ip6tables").filter { $0.contains("CNI-") }.isEmpty)
    }

    /// Debian's Go bridge masquerades with iptables: ours (with that backend) writes the same
    /// rules, and each plugin's DEL removes what the other's ADD wrote.
    @Test func iptablesMasqueradingSameAsTheGoBridge() throws {
        let go = "/usr/lib/cni/bridge"
        let s = try HostAndPod()
        let c = BridgeConf.make(s, extra: #","ipMasq":true,"ipMasqBackend":"iptables""#)
        let goAdd = try s.plugin(go, "ADD", c, cniPath: "/usr/lib/cni")
        try #require(goAdd.status == 0, "\(goAdd.stdout)")
        let goRules = try natRules(s.host).filter { $0.contains("CNI-") }
        #expect(goRules.count == 4)
        #expect(try s.plugin(bridge, "DEL", c).status == 0)   // ours removes Go's
        #expect(try natRules(s.host).filter { $0.contains("CNI-") }.isEmpty)
        #expect(try s.pod.link("eth0") == nil)
        try FileManager.default.removeItem(atPath: s.dataDir + "/brt/last_reserved_ip.0")   // the same address again
        let ours = try s.plugin(bridge, "ADD", c)
        try #require(ours.status == 0, "\(ours.stdout)")
        let ourRules = try natRules(s.host).filter { $0.contains("CNI-") }
        #expect(ourRules == goRules, "ours \(ourRules)\ngo   \(goRules)")
        #expect(try s.plugin(go, "DEL", c, cniPath: "/usr/lib/cni").status == 0)   // Go's removes ours
        #expect(try natRules(s.host).filter { $0.contains("CNI-") }.isEmpty)
    }

    @Test func delMatrix() throws {
        let s = try HostAndPod()
        let c = BridgeConf.make(s, extra: #","ipMasq":true"#)
        // DEL without ADD, and twice.
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        let add = try s.plugin(bridge, "ADD", c)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        // The namespace gone: still released, rules removed.
        #expect(try s.plugin(bridge, "ADD", c).status == 0)
        s.pod.delete()
        #expect(try s.plugin(bridge, "DEL", c).status == 0)
        #expect(try s.plugin(bridge, "DEL", c, netns: "").status == 0)
        #expect(try BridgeConf.reservations(s).isEmpty && rules(s.host, chain: "masq_checks").isEmpty)
        // The bridge gone (its ports go with it).
        let pod = try NetNS("pod3")
        let add3 = try s.plugin(bridge, "ADD", c, netns: pod.path)
        try #require(add3.status == 0)
        try s.host.ip("link", "del", "swbr0")
        #expect(try s.plugin(bridge, "DEL", c, netns: pod.path).status == 0)
        #expect(try pod.link("eth0") == nil)
        #expect(BridgeConf.reservations(s).isEmpty)
    }

    @Test func aFailedAddLeavesNothingBehind() throws {
        let s = try HostAndPod()
        // A /30 holds one address: the second ADD fails in IPAM, after its veth pair was made.
        let tiny = #"{"cniVersion":"1.0.0","name":"brt","type":"bridge","bridge":"swbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,"ipam":{"type":"host-local","subnet":"10.76.0.0/30","dataDir":"\#(s.dataDir)"}}"#
        #expect(try s.plugin(bridge, "ADD", tiny, containerID: "a").status == 0)
        let portsBefore = try ports(s)
        let pod2 = try NetNS("pod2")
        let fail = try s.plugin(bridge, "ADD", tiny, containerID: "b", netns: pod2.path)
        #expect(fail.status != 0 && fail.json?["code"] == 110)
        #expect(try pod2.link("eth0") == nil)
        #expect(try ports(s) == portsBefore)
        #expect(try rules(s.host, chain: "cni-br-iface-b-eth0").isEmpty)
        #expect(try rules(s.host, chain: "masq_checks").count == 1)
        #expect(BridgeConf.reservations(s, net: "brt").count == 1)
        // STATUS (1.1.0) reports the full range as code 50, from the IPAM plugin.
        let full = tiny.replacingOccurrences(of: #""cniVersion":"1.0.0""#, with: #""cniVersion":"1.1.0""#)
        #expect(try s.plugin(bridge, "STATUS", full).json?["code"] == 50)

        // Config mistakes are code 7 and change nothing.
        for extra in [#","hairpinMode":true,"promiscMode":true"#, #","vlan":4095"#, #","vlanTrunk":[{"minID":5}]"#, #","mtu":-1"#] {
            let bad = BridgeConf.make(s, extra: extra)
            let r = try s.plugin(bridge, "ADD", bad, containerID: "c", netns: pod2.path)
            #expect(r.json?["code"] == 7, "\(extra): \(r.stdout)")
        }
        #expect(try pod2.link("eth0") == nil && ports(s) == portsBefore)
        // The runtime's DEL after such a refused ADD succeeds (the reference's DEL too).
        let refused = BridgeConf.make(s, extra: #","runtimeConfig":{"mac":"not-a-mac"},"hairpinMode":true,"promiscMode":true"#)
        #expect(try s.plugin(bridge, "ADD", refused, containerID: "c", netns: pod2.path).json?["code"] == 7)
        #expect(try s.plugin(bridge, "DEL", refused, containerID: "c", netns: pod2.path).status == 0)
        // A non-bridge under the bridge's name.
        try s.host.ip("link", "add", "swbr1", "type", "veth", "peer", "name", "swbr1p")
        let notBridge = #"{"cniVersion":"1.0.0","name":"brx","type":"bridge","bridge":"swbr1"}"#
        let r = try s.plugin(bridge, "ADD", notBridge, containerID: "c", netns: pod2.path)
        #expect(r.status != 0 && r.json?["msg"]?.stringValue?.contains("swbr1") == true)
        #expect(try pod2.link("eth0") == nil)
        // The pod's name is taken.
        try pod2.ip("link", "add", "eth0", "type", "veth", "peer", "name", "other")
        #expect(try s.plugin(bridge, "ADD", BridgeConf.make(s), containerID: "c", netns: pod2.path).status != 0)
        #expect(try pod2.link("eth0")?["linkinfo"]?["info_kind"] == "veth" && ports(s) == portsBefore)
    }

    @Test func forceAddressReplacesAnotherGatewayAddress() throws {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "swbr0", "type", "bridge")
        try s.host.ip("addr", "add", "10.75.0.99/24", "dev", "swbr0")
        let c = BridgeConf.make(s)
        let refused = try s.plugin(bridge, "ADD", c)
        #expect(refused.status != 0 && refused.json?["msg"]?.stringValue?.contains("already has an IP address") == true)
        #expect(try s.pod.link("eth0") == nil && BridgeConf.reservations(s).isEmpty)
        let forced = try s.plugin(bridge, "ADD", BridgeConf.make(s, extra: #","forceAddress":true"#))
        #expect(forced.status == 0, "\(forced.stdout)")
        #expect(try s.host.addresses("swbr0") == ["10.75.0.1/24"])
    }

    @Test func concurrentAddsOnANewBridge() throws {
        let s = try HostAndPod()
        let pods = try (0..<6).map { try NetNS("cpod\($0)") }
        let c = BridgeConf.make(s, extra: #","ipMasq":true"#)
        final class Statuses: @unchecked Sendable {
            let lock = NSLock()
            var values: [Int: Int32] = [:]
            func set(_ i: Int, _ v: Int32) { lock.lock(); values[i] = v; lock.unlock() }
        }
        let statuses = Statuses()
        let plugin = bridge
        DispatchQueue.concurrentPerform(iterations: pods.count) { i in
            statuses.set(i, (try? s.plugin(plugin, "ADD", c, containerID: "c\(i)", netns: pods[i].path).status) ?? -1)
        }
        #expect(statuses.values.values.allSatisfy { $0 == 0 } && statuses.values.count == pods.count)
        #expect(try s.host.addresses("swbr0") == ["10.75.0.1/24"])
        #expect(try ports(s).count == pods.count)
        #expect(try rules(s.host, chain: "masq_checks").count == pods.count)
        #expect(Set(try pods.map { try $0.addresses("eth0") }.joined()).count == pods.count)
        for (i, p) in pods.enumerated() {
            #expect(try s.plugin(bridge, "DEL", c, containerID: "c\(i)", netns: p.path).status == 0)
        }
        #expect(try ports(s).isEmpty && rules(s.host, chain: "masq_checks").isEmpty)
    }

    // MARK: Helpers

    /// The bridge's ports in the host namespace.
    func ports(_ s: HostAndPod, bridge: String = "swbr0") throws -> [String] {
        (try s.host.ipJSON("link", "show", "master", bridge).arrayValue ?? []).compactMap { $0["ifname"]?.stringValue }.sorted()
    }
}

/// Configs and readers shared by the bridge suites (host kernel and guest).
enum BridgeConf {
    static func make(_ s: HostAndPod, version: String = "1.0.0", name: String = "brt", bridge: String = "swbr0",
                     extra: String = "", v6: Bool = false, isGateway: Bool = true) -> String {
        let ranges = v6 ? #"[[{"subnet":"10.75.0.0/24"}],[{"subnet":"fd00:75::/64"}]]"# : #"[[{"subnet":"10.75.0.0/24"}]]"#
        return #"""
            {"cniVersion":"\#(version)","name":"\#(name)","type":"bridge","bridge":"\#(bridge)","isGateway":\#(isGateway)\#(extra),
             "ipam":{"type":"host-local","ranges":\#(ranges),"dataDir":"\#(s.dataDir)"}}
            """#
    }

    static func withPrev(_ conf: String, _ add: Command) throws -> String {
        var o = try JSONValue.parse(conf).objectValue!
        o["prevResult"] = add.json
        return JSONValue.object(o).serializedString()
    }

    static func reservations(_ s: HostAndPod, net: String = "brt") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/" + net)) ?? [])
            .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".owner-") }.sorted()
    }
}

/// A sysctl of the namespace.
func sysctl(_ ns: NetNS, _ key: String) throws -> String {
    try ns.run(["cat", "/proc/sys/" + key], env: [:]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// One ping from inside the namespace (1 s timeout): did it get an answer?
func ping(_ ns: NetNS, _ address: String) throws -> Bool {
    try ns.run(["ping", "-c", "1", "-W", "1", address], env: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"]).status == 0
}

/// `iptables -t nat -S` (or ip6tables) in the namespace, a line each.
func natRules(_ ns: NetNS, _ command: String = "iptables") throws -> [String] {
    let out = try ns.run([command, "-w", "-t", "nat", "-S"], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    guard out.status == 0 else { throw CommandFailed(argv: [command, "-t", "nat", "-S"], status: out.status, output: out.stderr) }
    return out.stdout.split(separator: "\n").map(String.init)
}

/// The nftables rules of a chain (any table, any family) in the namespace, as `nft -j` shows them.
func rules(_ ns: NetNS, chain: String) throws -> [JSONValue] {
    let out = try ns.run(["nft", "-j", "list", "ruleset"], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    guard out.status == 0 else { throw CommandFailed(argv: ["nft", "-j", "list", "ruleset"], status: out.status, output: out.stderr) }
    let items = try JSONValue.parse(out.stdout)["nftables"]?.arrayValue ?? []
    return items.compactMap { $0["rule"] }.filter { $0["chain"] == .string(chain) }
}
