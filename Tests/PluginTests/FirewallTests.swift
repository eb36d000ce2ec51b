import Basics
import CNI
import IPAddressing
@testable import Firewall
import Testing

/// The nftables scripts and rule matching behind the bridge's ipMasq and macspoofchk, without
/// root (the rules themselves are read back from the kernel in Integration/Tests/BridgeTests).
@Suite struct FirewallTests {
    @Test func masqueradeCommentsUseTheReferencesHashes() {
        // sha512 hex prefixes, as the reference's utils.MustFormatHashWithPrefix(16, "", …).
        #expect(IPMasq.networkHash("mynet") == "d23676b4f2d9fe04")
        #expect(IPMasq.instanceHash(network: "mynet", ifName: "eth0", containerID: "ctr1") == "d23676b4f2d9fe04-7883a6f9ce71eedb")
        #expect(IPMasq.comment(network: "my\"net", ifName: "eth0", containerID: "ctr1")
                == "\(IPMasq.networkHash("my\"net"))-\(String(SHA512.hex("eth0:ctr1").prefix(16))), net: mynet, if: eth0, id: ctr1")
        let long = IPMasq.comment(network: "mynet", ifName: "net1", containerID: String(repeating: "a", count: 100))
        #expect(long.utf8.count == 128 && long.hasPrefix("d23676b4f2d9fe04-66e86667d5466433, net: mynet, if: net1, id: aaa"))
    }

    @Test func masqueradeScriptRecreatesTheChainsAndAddsOneRulePerAddress() throws {
        let v4 = try #require(IPPrefix("10.1.2.3/24")), v6 = try #require(IPPrefix("fd00::5/64"))
        let stale = NFTRule(family: "inet", table: IPMasq.table, chain: IPMasq.chain, handle: 7, comment: "x", expr: .null)
        let lines = IPMasq.setupScript([v4, v6], network: "n", ifName: "eth0", containerID: "c", stale: [stale])
            .split(separator: "\n").map(String.init)
        #expect(lines.contains("add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat ; }"))
        #expect(lines.contains("flush chain inet cni_plugins_masquerade postrouting"))
        #expect(lines.contains("delete rule inet cni_plugins_masquerade masq_checks handle 7"))
        let c = IPMasq.comment(network: "n", ifName: "eth0", containerID: "c")
        #expect(lines.contains("add rule inet cni_plugins_masquerade masq_checks ip saddr 10.1.2.3 ip daddr != 10.1.2.0/24 masquerade comment \"\(c)\""))
        #expect(lines.contains("add rule inet cni_plugins_masquerade masq_checks ip6 saddr fd00::5 ip6 daddr != fd00::/64 masquerade comment \"\(c)\""))
        // Stale rules go before the new ones are added.
        #expect(lines.firstIndex { $0.hasPrefix("delete rule") }! < lines.firstIndex { $0.contains("masquerade comment") }!)
    }

    @Test func spoofCheckTeardownFindsOnlyItsOwnJumpsAndChains() throws {
        let check = SpoofCheck(containerID: "ctr1", ifName: "eth0")
        #expect(check.ifaceChain == "cni-br-iface-ctr1-eth0" && check.macChain == "cni-br-iface-ctr1-eth0-mac")
        let listing = try JSONValue.parse(#"""
            {"nftables":[{"metainfo":{}},
              {"chain":{"family":"bridge","table":"nat","name":"PREROUTING","handle":1}},
              {"chain":{"family":"bridge","table":"nat","name":"cni-br-iface-ctr1-eth0","handle":2}},
              {"chain":{"family":"bridge","table":"nat","name":"cni-br-iface-ctr1-eth0-mac","handle":3}},
              {"chain":{"family":"bridge","table":"nat","name":"cni-br-iface-ctr2-eth0","handle":4}},
              {"rule":{"family":"bridge","table":"nat","chain":"PREROUTING","handle":10,"comment":"macspoofchk-ctr1-eth0",
                       "expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"veth1"}},{"jump":{"target":"cni-br-iface-ctr1-eth0"}}]}},
              {"rule":{"family":"bridge","table":"nat","chain":"PREROUTING","handle":11,"comment":"macspoofchk-ctr2-eth0",
                       "expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"veth2"}},{"jump":{"target":"cni-br-iface-ctr2-eth0"}}]}}]}
            """#)
        #expect(check.teardownScript(listing: listing) == """
            delete rule bridge nat PREROUTING handle 10
            delete chain bridge nat cni-br-iface-ctr1-eth0
            delete chain bridge nat cni-br-iface-ctr1-eth0-mac

            """)
        #expect(SpoofCheck(containerID: "gone", ifName: "eth0").teardownScript(listing: listing) == nil)
        #expect(check.teardownScript(listing: nil) == nil)
        let setup = check.setupScript(port: "veth1", mac: try #require(MACAddress("02:00:00:00:00:01")))
        #expect(setup.contains("add rule bridge nat cni-br-iface-ctr1-eth0-mac ether saddr 02:00:00:00:00:01 return comment \"macspoofchk-ctr1-eth0\""))
        #expect(setup.contains("add rule bridge nat PREROUTING iifname \"veth1\" jump cni-br-iface-ctr1-eth0"))
    }
}

/// The iptables backend's names and parsing, without root.
@Suite struct IPTablesMasqTests {
    @Test func chainAndCommentAreTheReferences() {
        // utils.FormatChainName: "CNI-" + sha512(network + containerID) in hex, 28 characters.
        #expect(IPTablesMasq.chain(network: "mynet", containerID: "ctr1") == "CNI-5145007e2a8415ce07579739")
        #expect(IPTablesMasq.comment(network: "mynet", containerID: "ctr1") == #"name: "mynet" id: "ctr1""#)
        #expect(goQuoted("a\"b\\c\n\u{1}") == #""a\"b\\c\n\x01""#)
        #expect(goUnquoted(#""a\"b" rest"#) == "a\"b")
    }

    @Test func jumpsAreFoundByTarget() {
        let chain = IPTablesMasq.chain(network: "mynet", containerID: "ctr1")
        let lines = [
            "-P POSTROUTING ACCEPT",
            #"-A POSTROUTING -s 10.1.0.2/32 -m comment --comment "name: \"mynet\" id: \"ctr1\"" -j \#(chain)"#,
            #"-A POSTROUTING -s 10.1.0.3/32 -m comment --comment "name: \"mynet\" id: \"ctr2\"" -j CNI-0000000000000000000000aa"#,
            "-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE",
        ]
        #expect(IPTablesMasq.jumpSources(lines, to: chain) == ["10.1.0.2/32"])
        #expect(IPTablesMasq.jumpTarget(lines[3]) == "MASQUERADE" && IPTablesMasq.jumpTarget(lines[0]) == nil)
        // What GC reads back out of a line: the container ID in the comment.
        let marker = "--comment " + shellQuoted("name: \(goQuoted("mynet")) id: ")
        let rest = lines[1].firstRange(of: String(marker.dropLast())).map { String(lines[1][$0.upperBound...]) }
        #expect(rest.flatMap { goUnquoted(shellUnescaped($0)) } == "ctr1")
    }
}
