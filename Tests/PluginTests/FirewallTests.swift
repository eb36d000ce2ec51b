import Basics
import CNI
import IPAddressing
@testable import Firewall
@testable import Netlink
import Testing

/// The nftables commands and rule matching behind the bridge's ipMasq and macspoofchk, without
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

    @Test func masqueradeCommandsRecreateTheChainsAndAddOneRulePerAddress() throws {
        let v4 = try #require(IPPrefix("10.1.2.3/24")), v6 = try #require(IPPrefix("fd00::5/64"))
        let stale = NFTablesRule(family: .inet, table: IPMasq.table, chain: IPMasq.chain, handle: 7, comment: "x", target: nil)
        let commands = IPMasq.setupCommands([v4, v6], network: "n", ifName: "eth0", containerID: "c", stale: [stale])
        #expect(commands.contains(.addChain(.inet, table: IPMasq.table, chain: "postrouting", comment: nil,
                                            base: NFTBaseChain(type: "nat", hook: 4, priority: 100))))
        #expect(commands.contains(.flushChain(.inet, table: IPMasq.table, chain: "postrouting")))
        #expect(commands.contains(.deleteRule(.inet, table: IPMasq.table, chain: IPMasq.chain, handle: 7)))
        let c = IPMasq.comment(network: "n", ifName: "eth0", containerID: "c")
        // ip saddr 10.1.2.3 ip daddr != 10.1.2.0/24 masquerade — as nft --debug=netlink shows it.
        #expect(commands.contains(.addRule(.inet, table: IPMasq.table, chain: IPMasq.chain, [
            .meta(key: NFTExpression.metaNFProto), .cmp(equal: true, [2]),
            .payload(.network, offset: 12, length: 4), .cmp(equal: true, [10, 1, 2, 3]),
            .payload(.network, offset: 16, length: 3), .cmp(equal: false, [10, 1, 2]),
            .masquerade], comment: c)))
        #expect(commands.contains(.addRule(.inet, table: IPMasq.table, chain: IPMasq.chain, [
            .meta(key: NFTExpression.metaNFProto), .cmp(equal: true, [10]),
            .payload(.network, offset: 8, length: 16), .cmp(equal: true, v6.address.bytes),
            .payload(.network, offset: 24, length: 8), .cmp(equal: false, [0xfd, 0, 0, 0, 0, 0, 0, 0]),
            .masquerade], comment: c)))
        // Stale rules go before the new ones are added.
        #expect(commands.firstIndex { if case .deleteRule = $0 { true } else { false } }!
                < commands.firstIndex { if case .addRule(_, _, IPMasq.chain, _, _) = $0 { true } else { false } }!)
    }

    /// What the kernel has already is not sent again: an `add chain` of an existing chain, or a
    /// flush and re-add of intact postrouting rules, would make the process wait at exit.
    @Test func existingChainsAndIntactRulesAreNotSentAgain() throws {
        let v4 = try #require(IPPrefix("10.1.2.3/24"))
        let all = IPMasq.setupCommands([v4], network: "n", ifName: "eth0", containerID: "c")
        let steady = IPMasq.setupCommands([v4], network: "n", ifName: "eth0", containerID: "c",
                                          existing: [IPMasq.chain, "postrouting"], postroutingIntact: true)
        let isChainOrFlush = { (c: NFTCommand) -> Bool in
            switch c {
            case .addChain, .flushChain: true
            case .addRule(_, _, "postrouting", _, _): true
            default: false
            }
        }
        #expect(all.filter(isChainOrFlush).count == 6 && steady.filter(isChainOrFlush).isEmpty)
        #expect(Array(all.suffix(1)) == Array(steady.suffix(1)) && steady.count == 2)
        let check = SpoofCheck(containerID: "ctr1", ifName: "eth0")
        let mac = try #require(MACAddress("02:00:00:00:00:01"))
        let first = check.setupCommands(port: "veth1", mac: mac)
        let later = check.setupCommands(port: "veth1", mac: mac, existing: [SpoofCheck.baseChain])
        #expect(first.count == later.count + 1 && !later.contains { if case .addChain(_, _, SpoofCheck.baseChain, _, _) = $0 { true } else { false } })
    }

    /// A rule as we send it reads back as the same rule (the kernel answers in the same
    /// attributes, plus the handle); an expression of another kind reads as unknown.
    @Test func rulesReadBackAsSent() throws {
        let comment = IPMasq.comment(network: "n", ifName: "eth0", containerID: "c")
        let commands = IPMasq.setupCommands([try #require(IPPrefix("10.1.2.3/20")), try #require(IPPrefix("fd00::5/64"))],
                                            network: "n", ifName: "eth0", containerID: "c")
            + SpoofCheck(containerID: "c", ifName: "eth0").setupCommands(port: "veth1", mac: try #require(MACAddress("02:00:00:00:00:01")))
        var rules = 0
        for c in commands {
            guard case .addRule(let family, let table, let chain, let expressions, let note) = c else { continue }
            var batch = NFTBatch()
            batch.append(NFTablesSocket.message(c), seq: 1)
            // nlmsghdr and nfgenmsg, then the attributes; the kernel adds the handle.
            let attributes = Array(batch.bytes.dropFirst(20)) + [12, 0, 3, 0] + bigEndianBytes(42)
            let rule = try #require(attributes.withUnsafeBytes { NFTablesRule(family: family, attributes: $0) })
            #expect(rule.table == table && rule.chain == chain && rule.handle == 42 && rule.comment == (note ?? ""))
            #expect(rule.expressions == expressions)
            #expect(rule.target == expressions.compactMap { if case .verdict(.jump(let t)) = $0 { t } else if case .verdict(.goto(let t)) = $0 { t } else { nil } }.first)
            rules += 1
        }
        #expect(rules == 9)
        // A long comment is cut to what the kernel takes (256 bytes of user data), on a character.
        let long = NFTablesSocket.userData(comment: String(repeating: "é", count: 200))
        #expect(long.count <= 256 && long.last == 0 && String(decoding: long.dropFirst(2).dropLast(), as: UTF8.self).allSatisfy { $0 == "é" })
    }

    @Test func prefixMatchesCompileAsNftCompilesThem() throws {
        // ip daddr != 10.1.0.0/20: the whole address, masked (nft --debug=netlink).
        #expect(NFTMatch.address(source: false, try #require(IPPrefix("10.1.2.4/20")), equal: false) == [
            .payload(.network, offset: 16, length: 4), .bitwise(mask: [255, 255, 240, 0], xor: [0, 0, 0, 0]),
            .cmp(equal: false, [10, 1, 0, 0])])
        #expect(NFTMatch.address(source: false, try #require(IPPrefix("0.0.0.0/0")), equal: false) == [
            .payload(.network, offset: 16, length: 4), .bitwise(mask: [0, 0, 0, 0], xor: [0, 0, 0, 0]),
            .cmp(equal: false, [0, 0, 0, 0])])
        #expect(NFTMatch.address(source: false, try #require(IPPrefix("ff00::/8"))) == [
            .payload(.network, offset: 24, length: 1), .cmp(equal: true, [0xff])])
        let m61 = NFTMatch.address(source: false, try #require(IPPrefix("fd00::5/61")))
        #expect(m61.count == 3 && m61[1] == .bitwise(mask: [255, 255, 255, 255, 255, 255, 255, 0xf8] + [UInt8](repeating: 0, count: 8),
                                                     xor: [UInt8](repeating: 0, count: 16)))
        #expect(NFTMatch.iifname("veth12345") == [.meta(key: NFTExpression.metaIIFName),
                                                  .cmp(equal: true, Array("veth12345".utf8) + [0, 0, 0, 0, 0, 0, 0])])
    }

    @Test func spoofCheckTeardownFindsOnlyItsOwnJumpsAndChains() throws {
        let check = SpoofCheck(containerID: "ctr1", ifName: "eth0")
        #expect(check.ifaceChain == "cni-br-iface-ctr1-eth0" && check.macChain == "cni-br-iface-ctr1-eth0-mac")
        let rule = { (chain: String, handle: UInt64, target: String?) in
            NFTablesRule(family: .bridge, table: "nat", chain: chain, handle: handle, comment: "", target: target)
        }
        let jumps = [rule("PREROUTING", 10, "cni-br-iface-ctr1-eth0"), rule("PREROUTING", 11, "cni-br-iface-ctr2-eth0"),
                     rule("PREROUTING", 12, nil)]
        #expect(check.teardownCommands(jumps: jumps, chains: [check.ifaceChain, check.macChain]) == [
            .deleteRule(.bridge, table: "nat", chain: "PREROUTING", handle: 10),
            .deleteChain(.bridge, table: "nat", chain: "cni-br-iface-ctr1-eth0"),
            .deleteChain(.bridge, table: "nat", chain: "cni-br-iface-ctr1-eth0-mac"),
        ])
        #expect(SpoofCheck(containerID: "gone", ifName: "eth0").teardownCommands(jumps: jumps, chains: []).isEmpty)
        let setup = check.setupCommands(port: "veth1", mac: try #require(MACAddress("02:00:00:00:00:01")))
        #expect(setup.contains(.addRule(.bridge, table: "nat", chain: check.macChain,
                                        [.payload(.link, offset: 6, length: 6), .cmp(equal: true, [2, 0, 0, 0, 0, 1]), .verdict(.return)],
                                        comment: "macspoofchk-ctr1-eth0")))
        #expect(setup.contains(.addRule(.bridge, table: "nat", chain: "PREROUTING",
                                        NFTMatch.iifname("veth1") + [.verdict(.jump(check.ifaceChain))], comment: "macspoofchk-ctr1-eth0")))
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
