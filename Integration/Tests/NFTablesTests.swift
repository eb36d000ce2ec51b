import CNI
import Firewall
import Foundation
import IPAddressing
import NetNS
import Netlink
import Testing
import TestSupport

/// nf_tables spoken in-process (Netlink's NFTablesSocket, Firewall's NFTables) against the `nft`
/// command, in namespaces of the test: what we add lists exactly as what nft adds from the
/// reference's script, what nft added we read and remove, a refused batch changes nothing.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct NFTablesTests {
    static let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
    /// Byte-aligned, unaligned, host and /0 prefixes of both families (nft loads fewer bytes for
    /// the aligned ones and masks the others).
    static let addresses = ["10.1.2.3/24", "10.1.2.4/20", "10.9.9.9/32", "10.7.0.1/0", "10.6.0.1/9",
                            "fd00::3/64", "fd00::4/120", "fd00::5/61", "fd00::6/128", "fd00::7/0"].map { IPPrefix($0)! }

    /// The reference's nft script for the masquerading (pkg/ip/ipmasq_nftables_linux.go) and the
    /// spoof check (pkg/link/spoofcheck.go), written out as nft's input — the oracle.
    static func referenceScript(comment: String, check: SpoofCheck, port: String, mac: String) -> String {
        let t = "inet cni_plugins_masquerade"
        var lines = [
            #"add table \#(t) { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }"#,
            #"add chain \#(t) masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }"#,
            "add chain \(t) postrouting { type nat hook postrouting priority srcnat ; }",
            "flush chain \(t) postrouting",
            "add rule \(t) postrouting ip daddr 224.0.0.0/4 return",
            "add rule \(t) postrouting ip6 daddr ff00::/8 return",
            "add rule \(t) postrouting goto masq_checks",
        ]
        for a in addresses {
            let ip = a.family == .v4 ? "ip" : "ip6"
            lines.append(#"add rule \#(t) masq_checks \#(ip) saddr \#(a.address) \#(ip) daddr != \#(a.masked) masquerade comment "\#(comment)""#)
        }
        let b = "bridge nat", c = #"comment "\#(check.comment)""#
        lines += [
            "add table \(b)",
            "add chain \(b) PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }",
            "add chain \(b) \(check.ifaceChain)",
            "add chain \(b) \(check.macChain)",
            "flush chain \(b) \(check.ifaceChain)",
            "flush chain \(b) \(check.macChain)",
            #"add rule \#(b) PREROUTING iifname "\#(port)" jump \#(check.ifaceChain) \#(c)"#,
            "add rule \(b) \(check.ifaceChain) jump \(check.macChain) \(c)",
            "add rule \(b) \(check.macChain) ether saddr \(mac) return \(c)",
            "add rule \(b) \(check.macChain) drop \(c)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    func nft(_ ns: NetNS, _ args: [String]) throws -> String {
        let out = try ns.run(["nft"] + args, env: Self.env)
        guard out.status == 0 else { throw CommandFailed(argv: ["nft"] + args, status: out.status, output: out.stderr) }
        return out.stdout
    }

    func nftScript(_ ns: NetNS, _ script: String) throws {
        let path = NSTemporaryDirectory() + "swcni-nft-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).nft"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try nft(ns, ["-f", path])
    }

    @Test func ourRulesListExactlyAsTheReferencesScriptThroughNft() throws {
        let byNft = try NetNS("nft"), byUs = try NetNS("nfus")
        let comment = IPMasq.comment(network: "mynet", ifName: "eth0", containerID: "ctr1")
        let check = SpoofCheck(containerID: "ctr1", ifName: "eth0")
        let mac = try #require(MACAddress("02:03:04:05:06:07"))
        try nftScript(byNft, Self.referenceScript(comment: comment, check: check, port: "veth12345", mac: mac.description))
        let nf = try NetworkNamespace(path: byUs.path).run { () throws -> NFTables in
            let nf = try NFTables.open()
            try IPMasq.setup(nf, Self.addresses, network: "mynet", ifName: "eth0", containerID: "ctr1")
            try check.setup(nf, port: "veth12345", mac: mac)
            return nf
        }
        let theirs = try nft(byNft, ["list", "ruleset"]), ours = try nft(byUs, ["list", "ruleset"])
        #expect(ours == theirs)
        #expect(ours.contains("ip6 saddr fd00::5 ip6 daddr != fd00::/61 masquerade comment \"\(comment)\""))
        #expect(ours.contains("ether saddr 02:03:04:05:06:07 return comment \"macspoofchk-ctr1-eth0\""))
        // The JSON listing too (what knftables and the reference's teardown read), handles aside.
        let strip = { (s: String) in s.replacing(/"handle": \d+/, with: "") }
        #expect(strip(try nft(byUs, ["-j", "list", "ruleset"])) == strip(try nft(byNft, ["-j", "list", "ruleset"])))

        // A repeated ADD: the masquerade rules are replaced, not added again (the reference deletes
        // the attachment's old ones first, as we do); the spoof check's chains are flushed and its
        // PREROUTING jump added once more — the reference's script does the same.
        try NetworkNamespace(path: byUs.path).run { () throws in
            try IPMasq.setup(nf, Self.addresses, network: "mynet", ifName: "eth0", containerID: "ctr1")
            try check.setup(nf, port: "veth12345", mac: mac)
        }
        let stale = try nft(byNft, ["-a", "list", "chain", "inet", IPMasq.table, IPMasq.chain])
            .split(separator: "\n").filter { $0.contains("masquerade comment") }.compactMap { $0.firstMatch(of: /# handle (\d+)/).map { "delete rule inet \(IPMasq.table) \(IPMasq.chain) handle \($0.1)" } }
        try nftScript(byNft, stale.joined(separator: "\n") + "\n"
                      + Self.referenceScript(comment: comment, check: check, port: "veth12345", mac: mac.description))
        let again = try nft(byUs, ["list", "ruleset"])
        #expect(again == (try nft(byNft, ["list", "ruleset"])))
        #expect(again.components(separatedBy: "masquerade comment").count == Self.addresses.count + 1)

        // The postrouting chain is left alone when its rules are intact (no deletion: no wait for
        // the kernel to free them), and repaired when they are not.
        let handles = { try self.nft(byUs, ["-a", "list", "chain", "inet", IPMasq.table, "postrouting"]) }
        let before = try handles()
        try NetworkNamespace(path: byUs.path).run { () throws in
            try IPMasq.setup(nf, [IPPrefix("10.1.2.9/24")!], network: "mynet", ifName: "eth1", containerID: "ctr1")
        }
        #expect(try handles() == before)
        let goto = try #require(before.split(separator: "\n").first { $0.contains("goto masq_checks") }?.firstMatch(of: /# handle (\d+)/)?.1)
        _ = try nft(byUs, ["delete", "rule", "inet", IPMasq.table, "postrouting", "handle", String(goto)])
        _ = try nft(byUs, ["add", "rule", "inet", IPMasq.table, "postrouting", "ip", "daddr", "10.0.0.1", "accept"])
        try NetworkNamespace(path: byUs.path).run { () throws in
            try IPMasq.setup(nf, [IPPrefix("10.1.2.10/24")!], network: "mynet", ifName: "eth2", containerID: "ctr1")
        }
        let repaired = try nft(byUs, ["list", "chain", "inet", IPMasq.table, "postrouting"])
        #expect(repaired == (try nft(byNft, ["list", "chain", "inet", IPMasq.table, "postrouting"])))
    }

    @Test func rulesNftAddedAreReadBackAndRemoved() throws {
        let ns = try NetNS("nfrd")
        let check = SpoofCheck(containerID: "ctr2", ifName: "net1"), other = SpoofCheck(containerID: "ctr3", ifName: "net1")
        let mine = IPMasq.comment(network: "n", ifName: "net1", containerID: "ctr2")
        try nftScript(ns, Self.referenceScript(comment: mine, check: check, port: "vethA", mac: "02:00:00:00:00:0a"))
        try nftScript(ns, Self.referenceScript(comment: IPMasq.comment(network: "n", ifName: "net1", containerID: "ctr3"),
                                               check: other, port: "vethB", mac: "02:00:00:00:00:0b"))
        let listing = try JSONValue.parse(try nft(ns, ["-j", "list", "chain", "inet", IPMasq.table, IPMasq.chain]))
        let expected = (listing["nftables"]?.arrayValue ?? []).compactMap { $0["rule"] }
            .map { "\($0["handle"]?.intValue ?? -1) \($0["comment"]?.stringValue ?? "")" }
        try NetworkNamespace(path: ns.path).run { () throws in
            let nf = try NFTables.open()
            let read = try nf.rules(.inet, table: IPMasq.table, chain: IPMasq.chain, expressions: true)
            #expect(read.map { "\($0.handle) \($0.comment)" } == expected && read.count == 2 * Self.addresses.count)
            // nft's encoding reads back as the expressions we would send for the same rules.
            let ours = IPMasq.setupCommands(Self.addresses, network: "n", ifName: "net1", containerID: "ctr2").compactMap { c -> [NFTExpression]? in
                if case .addRule(_, _, IPMasq.chain, let e, _) = c { return e } else { return nil }
            }
            #expect(read.prefix(Self.addresses.count).map(\.expressions) == ours.map { Optional($0) })
            #expect(try nf.rules(.inet, table: IPMasq.table, chain: "postrouting", expressions: true).map(\.expressions) == IPMasq.postroutingRules.map { Optional($0) })
            let mac = try nf.rules(.bridge, table: SpoofCheck.table, chain: check.macChain, expressions: true).map(\.expressions)
            #expect(mac == [NFTMatch.etherSource(MACAddress("02:00:00:00:00:0a")!) + [.verdict(.return)], [.verdict(.drop)]])
            let jumps = try nf.rules(.bridge, table: SpoofCheck.table, chain: SpoofCheck.baseChain)
            #expect(jumps.compactMap(\.target) == [check.ifaceChain, other.ifaceChain] && jumps.allSatisfy { $0.expressions == nil })
            #expect(try nf.rules(.inet, table: "no-such-table", chain: "x").isEmpty)
            #expect(try nf.rules(.inet, table: IPMasq.table, chain: "no-such-chain").isEmpty)
            #expect(try nf.chainExists(.bridge, table: SpoofCheck.table, chain: check.macChain))
            #expect(try !nf.chainExists(.bridge, table: SpoofCheck.table, chain: "cni-br-iface-gone"))
            #expect(try !nf.chainExists(.ip, table: "nat", chain: "CNI-x"))

            try IPMasq.teardown(nf, network: "n", ifName: "net1", containerID: "ctr2")
            try check.teardown(nf)
            // Nothing left to do is no error.
            try IPMasq.teardown(nf, network: "n", ifName: "net1", containerID: "ctr2")
            try check.teardown(nf)
        }
        let after = try nft(ns, ["list", "ruleset"])
        #expect(!after.contains(mine) && !after.contains(check.ifaceChain) && !after.contains("vethA"))
        #expect(after.contains("id: ctr3") && after.contains(other.macChain) && after.contains("vethB"))
    }

    @Test func aRefusedBatchChangesNothingAndNamesTheCommand() throws {
        let ns = try NetNS("nfbt")
        let error = try NetworkNamespace(path: ns.path).run { () throws -> FirewallError? in
            let nf = try NFTables.open()
            do {
                try nf.apply([.addTable(.inet, "swcni_t", comment: nil),
                              .addChain(.inet, table: "swcni_t", chain: "c", comment: nil, base: nil),
                              .addRule(.inet, table: "swcni_t", chain: "c", [.verdict(.accept)], comment: "kept?"),
                              .deleteRule(.inet, table: "swcni_t", chain: "c", handle: 99_999)])
                return nil
            } catch let e as FirewallError { return e } catch { return nil }
        }
        let e = try #require(error)
        #expect(e.message.contains("delete rule inet swcni_t c handle 99999"), "\(e)")
        #expect(try nft(ns, ["list", "ruleset"]).isEmpty)
    }

    /// GC of many attachments: a listing the kernel sends in several parts, deletions in
    /// batches that fit the socket.
    @Test func gcRemovesHundredsOfStaleRules() throws {
        let ns = try NetNS("nfgc")
        var script = Self.referenceScript(comment: "x", check: SpoofCheck(containerID: "c", ifName: "e"), port: "v", mac: "02:00:00:00:00:01")
        for i in 0..<700 {
            let c = IPMasq.comment(network: "gcnet", ifName: "eth0", containerID: "ctr\(i)")
            script += #"add rule inet \#(IPMasq.table) masq_checks ip saddr 10.50.\#(i / 200).\#(i % 200 + 1) ip daddr != 10.50.0.0/16 masquerade comment "\#(c)"\#n"#
        }
        try nftScript(ns, script)
        let kept = (0..<5).map { Attachment(containerID: "ctr\($0)", ifname: "eth0") }
        try NetworkNamespace(path: ns.path).run { () throws in
            let nf = try NFTables.open()
            #expect(try nf.rules(.inet, table: IPMasq.table, chain: IPMasq.chain).count == 700 + Self.addresses.count)
            try IPMasq.gc(nf, network: "gcnet", valid: kept)
            let left = try nf.rules(.inet, table: IPMasq.table, chain: IPMasq.chain)
            #expect(left.count == 5 + Self.addresses.count)
            #expect(left.filter { $0.comment.contains("net: gcnet") }.map(\.comment) == kept.map { IPMasq.comment(network: "gcnet", ifName: "eth0", containerID: $0.containerID) })
        }
    }

    /// The reference's `add chain … { policy accept ; }` puts the policy back on every ADD; so do we.
    @Test func aDropPolicyOnTheSpoofChecksBaseChainIsPutBack() throws {
        let ns = try NetNS("nfpo")
        let check = SpoofCheck(containerID: "p1", ifName: "eth0"), mac = try #require(MACAddress("02:00:00:00:00:02"))
        let inside = try NetworkNamespace(path: ns.path)
        try inside.run { () throws in try check.setup(try NFTables.open(), port: "vethP", mac: mac) }
        _ = try nft(ns, ["add", "chain", "bridge", "nat", "PREROUTING", "{", "policy", "drop", ";", "}"])
        #expect(try nft(ns, ["list", "chain", "bridge", "nat", "PREROUTING"]).contains("policy drop"))
        try inside.run { () throws in try SpoofCheck(containerID: "p2", ifName: "eth0").setup(try NFTables.open(), port: "vethQ", mac: mac) }
        #expect(try nft(ns, ["list", "chain", "bridge", "nat", "PREROUTING"]).contains("policy accept"))
    }

    /// iptables is not run at DEL when its nat table cannot hold the attachment's chain (one
    /// netlink request where iptables is iptables-nft).
    @Test(.enabled(if: (try? Command.run(["iptables", "--version"], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]).stdout.contains("nf_tables")) == true,
                   "iptables is iptables-nft"))
    func theIptablesLayoutIsLookedForWithoutRunningIptables() throws {
        let ns = try NetNS("nfip")
        let chain = IPTablesMasq.chain(network: "n", containerID: "ctr9")
        let inside = try NetworkNamespace(path: ns.path)
        #expect(try inside.run { IPTablesMasq.mayHold(chain, .v4) || IPTablesMasq.mayHold(chain, .v6) } == false)
        for cmd in ["iptables", "ip6tables"] {
            let out = try ns.run([cmd, "-w", "-t", "nat", "-N", chain], env: Self.env)
            #expect(out.status == 0, "\(out.stderr)")
        }
        #expect(try inside.run { IPTablesMasq.mayHold(chain, .v4) && IPTablesMasq.mayHold(chain, .v6) })
        try inside.run { () throws in try IPTablesMasq.teardown(network: "n", containerID: "ctr9") }
        #expect(try inside.run { IPTablesMasq.mayHold(chain, .v4) || IPTablesMasq.mayHold(chain, .v6) } == false)
    }
}
