import CNI
import Foundation
@testable import EgressRouter
import Testing

@Suite struct EgressRouterConfigTests {
    func config(_ ip: String, _ extra: String = "") throws -> EgressRouterConfig {
        try EgressRouterConfig(NetConf(bytes: Array(#"{"cniVersion":"0.4.0","type":"egress-router","name":"egress-router","ip":\#(ip)\#(extra)}"#.utf8)))
    }

    /// The OpenShift documentation's redirect example, unchanged.
    @Test func theOpenShiftExample() throws {
        let c = try config(#"{"addresses":["192.168.12.99/24"],"destinations":["192.168.12.91/32"],"gateway":"192.168.12.1"}"#)
        #expect(c.interfaceType == .macvlan && c.master == nil && c.macvlanMode == .bridge && c.mtu == 0)
        #expect(c.addresses.map(\.description) == ["192.168.12.99/24"] && c.gateways.map(\.description) == ["192.168.12.1"])
        #expect(c.destinations.count == 1 && c.destinations[0].isFallback && c.destinations[0].address.description == "192.168.12.91/32")
        #expect(EgressRules.script(ifName: "net1", addresses: c.addresses, destinations: c.destinations) == """
            add table ip egress_cni
            flush table ip egress_cni
            add chain ip egress_cni prerouting { type nat hook prerouting priority dstnat; policy accept; }
            add chain ip egress_cni postrouting { type nat hook postrouting priority srcnat; policy accept; }
            add rule ip egress_cni postrouting oifname "net1" snat to 192.168.12.99
            add rule ip egress_cni prerouting iifname != "net1" dnat to 192.168.12.91

            """)
    }

    @Test func everyDestinationFormPortRulesFirstFallbackLast() throws {
        let c = try config(#"""
            {"addresses":["203.0.113.99/24","2001:db8::99/64"],"gateway":["203.0.113.1","2001:db8::1"],
             "destinations":["203.0.113.27","80 tcp 203.0.113.25","8080 TCP 203.0.113.26 80","53 udp 10.100.3.0/30",
                             "2001:db8::27","443 sctp 2001:db8::25 8443"]}
            """#, #","interfaceType":"ipvlan","interfaceArgs":{"master":"eth1","mode":"l3","mtu":1400}"#)
        #expect(c.interfaceType == .ipvlan && c.ipvlanMode == .l3 && c.master == "eth1" && c.mtu == 1400)
        let lines = EgressRules.script(ifName: "net1", addresses: c.addresses, destinations: c.destinations)
            .split(separator: "\n").filter { $0.contains("prerouting iifname") }
        #expect(lines == [
            #"add rule ip egress_cni prerouting iifname != "net1" tcp dport 80 dnat to 203.0.113.25:80"#,
            #"add rule ip egress_cni prerouting iifname != "net1" tcp dport 8080 dnat to 203.0.113.26:80"#,
            #"add rule ip egress_cni prerouting iifname != "net1" udp dport 53 dnat to 10.100.3.0-10.100.3.3:53"#,
            #"add rule ip egress_cni prerouting iifname != "net1" dnat to 203.0.113.27"#,
            #"add rule ip6 egress_cni prerouting iifname != "net1" sctp dport 443 dnat to [2001:db8::25]:8443"#,
            #"add rule ip6 egress_cni prerouting iifname != "net1" dnat to 2001:db8::27"#,
        ])
    }

    @Test(arguments: [
        #"{"addresses":[],"gateway":"192.168.12.1"}"#,
        #"{"addresses":["192.168.12.99"],"gateway":"192.168.12.1"}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["80 icmp 10.0.0.1"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["70000 tcp 10.0.0.1"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["80 tcp 10.0.0.1 0"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["80 tcp"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["nowhere"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["2001:db8::1"]}"#,
        #"{"addresses":["192.168.12.99/24"],"destinations":["10.0.0.1","10.0.0.2"]}"#,
        #"{"addresses":["192.168.12.99/24"],"gateway":"nope"}"#,
    ])
    func badConfigsAreCodeSeven(ip: String) {
        #expect((#expect(throws: CNIError.self) { try config(ip) })?.code == 7)
    }

    @Test func badInterfaceArgs() {
        for extra in [#","interfaceType":"vlan""#, #","interfaceArgs":{"mode":"l9"}"#, #","interfaceArgs":{"mtu":4294967296}"#,
                      #","interfaceArgs":{"master":"../x"}"#] {
            #expect((#expect(throws: CNIError.self) { try config(#"{"addresses":["192.168.12.99/24"]}"#, extra) })?.code == 7, "\(extra)")
        }
    }
}

@Suite struct EgressRouterConfExampleTests {
    static let confDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Conf").path

    @Test(arguments: ["egress-router-openshift.json", "egress-router-ports.json", "egress-router-ipv6.json"])
    func examplesParse(file: String) throws {
        let bytes = try #require(FileManager.default.contents(atPath: Self.confDir + "/" + file))
        let c = try EgressRouterConfig(NetConf(bytes: Array(bytes)))
        #expect(!c.addresses.isEmpty && !c.destinations.isEmpty && !c.gateways.isEmpty)
    }
}
