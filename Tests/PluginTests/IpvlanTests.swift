import CNI
import IPAddressing
import Ipvlan
import Netlink
import Testing

@Suite struct IpvlanConfigTests {
    func config(_ extra: String) throws -> IpvlanConfig {
        try IpvlanConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"ipvlan"\#(extra)}"#.utf8)))
    }

    @Test func defaultsAndEveryKey() throws {
        let d = try config("")
        #expect(d.master == nil && d.mode == .l2 && d.mtu == 0 && !d.linkInContainer && d.ipamType == nil)
        let c = try config(#","master":"eth1","mode":"l3s","mtu":1400,"linkInContainer":true,"ipam":{"type":"static"},"dns":{"nameservers":["10.0.0.53"]}"#)
        #expect(c.master == "eth1" && c.mode == .l3s && c.mtu == 1400 && c.linkInContainer && c.ipamType == "static")
        #expect(c.dns.nameservers == ["10.0.0.53"])
        #expect(try config(#","master":"","mode":"""#).master == nil)
    }

    @Test(arguments: IpvlanMode.allCases)
    func everyModeByName(mode: IpvlanMode) throws {
        #expect(try config(#","mode":"\#(mode.rawValue)""#).mode == mode)
    }

    @Test(arguments: [#","mode":"l4""#, #","mode":"L2""#, #","mtu":-1"#, #","mtu":"1500""#, #","master":"a/b""#,
                      #","linkInContainer":"yes""#])
    func invalid(extra: String) {
        #expect((#expect(throws: CNIError.self) { try config(extra) })?.code == 7)
    }
}

@Suite struct IpvlanDecisionTests {
    func config(_ extra: String) throws -> IpvlanConfig {
        try IpvlanConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"ipvlan"\#(extra)}"#.utf8)))
    }

    let prev = CNIResult(interfaces: [.init(name: "eth0", sandbox: "/run/netns/p")],
                         ips: [.init(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("10.1.0.1"), interface: 0)],
                         routes: [.init(dst: IPPrefix("0.0.0.0/0")!)], dns: DNS(nameservers: ["10.1.0.53"]))

    @Test func masterIsConfiguredThenChainedThenTheDefaultRoute() throws {
        #expect(try IpvlanPlugin.master(config(#","master":"eth9""#), prev: prev) == .named("eth9"))
        #expect(try IpvlanPlugin.master(config(""), prev: prev) == .named("eth0"))
        #expect(try IpvlanPlugin.master(config(""), prev: nil) == .defaultRoute)
        // With its own IPAM it is not chained: the previous result names no master.
        #expect(try IpvlanPlugin.master(config(#","ipam":{"type":"static"}"#), prev: prev) == .defaultRoute)
    }

    @Test func chainedMasterNeedsExactlyOneInterface() throws {
        var two = prev
        two.interfaces.append(.init(name: "eth1"))
        let e = #expect(throws: CNIError.self) { try IpvlanPlugin.master(config(""), prev: two) }
        #expect(e?.code == 7)
    }

    @Test func chainedResultTakesThePreviousAddressesOnTheNewLink() throws {
        let base = CNIResult(interfaces: [.init(name: "net1", sandbox: "/run/netns/p")])
        let r = try IpvlanPlugin.chainedResult(base, prev: prev, conf: config(""))
        #expect(r.interfaces.map(\.name) == ["net1"])
        #expect(r.ips.map(\.address.description) == ["10.1.0.5/24"] && r.ips.allSatisfy { $0.interface == 0 })
        #expect(r.routes == prev.routes && r.dns == prev.dns)
        let own = try IpvlanPlugin.chainedResult(base, prev: prev, conf: config(#","dns":{"nameservers":["9.9.9.9"]}"#))
        #expect(own.dns.isEmpty)  // the base's (config) DNS is kept: the previous one is not taken
    }

    @Test func chainedWithoutAddressesIsCodeSeven() throws {
        for p in [nil, CNIResult(interfaces: [.init(name: "eth0")])] as [CNIResult?] {
            let e = #expect(throws: CNIError.self) { try IpvlanPlugin.chainedResult(CNIResult(), prev: p, conf: config("")) }
            #expect(e?.code == 7)
        }
    }
}
