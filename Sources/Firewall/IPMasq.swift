import Basics
import CNI
import IPAddressing
import Netlink

/// Masquerading of a pod's addresses for traffic leaving their subnet, in the reference's nftables
/// layout (pkg/ip/ipmasq_nftables_linux.go): table `inet cni_plugins_masquerade`, a `postrouting`
/// NAT chain that skips multicast and goes to `masq_checks`, and there one rule per address whose
/// comment starts with a hash of network, interface and container — so the reference and we can
/// each tear down what the other set up, and GC finds a network's rules by its hash.
public enum IPMasq {
    public static let table = "cni_plugins_masquerade"
    public static let chain = "masq_checks"
    /// knftables.CommentLengthMax.
    static let commentMax = 128

    public static func networkHash(_ network: String) -> String { String(SHA512.hex(network).prefix(16)) }

    public static func instanceHash(network: String, ifName: String, containerID: String) -> String {
        networkHash(network) + "-" + String(SHA512.hex(ifName + ":" + containerID).prefix(16))
    }

    public static func comment(network: String, ifName: String, containerID: String) -> String {
        let strip = { (s: String) in s.filter { $0 != "\"" } }
        let c = "\(instanceHash(network: network, ifName: ifName, containerID: containerID)), net: \(strip(network)), if: \(strip(ifName)), id: \(strip(containerID))"
        return String(decoding: Array(c.utf8.prefix(commentMax)), as: UTF8.self)
    }

    /// The transaction that (re)creates the table and chains and adds one rule per address,
    /// deleting `stale` rules of the same attachment first — what the reference's nft script
    /// says, as nft sends it:
    ///
    ///     add table inet cni_plugins_masquerade { comment "…" ; }
    ///     add chain inet cni_plugins_masquerade masq_checks { comment "…" ; }
    ///     add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat ; }
    ///     flush chain inet cni_plugins_masquerade postrouting
    ///     add rule inet cni_plugins_masquerade postrouting ip daddr 224.0.0.0/4 return
    ///     add rule inet cni_plugins_masquerade postrouting ip6 daddr ff00::/8 return
    ///     add rule inet cni_plugins_masquerade postrouting goto masq_checks
    ///     add rule inet cni_plugins_masquerade masq_checks ip saddr 10.1.2.3 ip daddr != 10.1.2.0/24 masquerade comment "…"
    ///
    /// What the kernel has already (read back first) is not sent again: `existing` chains are not
    /// added (an `add chain` of an existing chain is an update the kernel frees after an RCU grace
    /// period, which the process then waits for when it closes its socket: 5–16 ms here, paid on
    /// every ADD by the reference's script), and `postroutingIntact` — the postrouting chain holds
    /// exactly its three rules — spares the flush and re-adding them (deleted rules: the same wait).
    public static func setupCommands(_ addresses: [IPPrefix], network: String, ifName: String, containerID: String,
                                     stale: [NFTablesRule] = [], existing: [String] = [], postroutingIntact: Bool = false) -> [NFTCommand] {
        var commands: [NFTCommand] = [.addTable(.inet, table, comment: "Masquerading for plugins from github.com/containernetworking/plugins")]
        if !existing.contains(chain) {
            commands.append(.addChain(.inet, table: table, chain: chain,
                                      comment: "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet", base: nil))
        }
        if !existing.contains("postrouting") {
            commands.append(.addChain(.inet, table: table, chain: "postrouting", comment: nil,
                                      base: NFTBaseChain(type: "nat", hook: NFTBaseChain.postrouting, priority: 100)))
        }
        if !postroutingIntact {
            commands.append(.flushChain(.inet, table: table, chain: "postrouting"))
            commands += postroutingRules.map { .addRule(.inet, table: table, chain: "postrouting", $0, comment: nil) }
        }
        commands += stale.map(\.deleteCommand)
        let c = comment(network: network, ifName: ifName, containerID: containerID)
        for a in addresses {
            let host = IPPrefix(address: a.address, length: a.family == .v4 ? 32 : 128)!
            commands.append(.addRule(.inet, table: table, chain: chain,
                                     NFTMatch.nfproto(a.family) + NFTMatch.address(source: true, host)
                                         + NFTMatch.address(source: false, a.masked, equal: false) + [.masquerade],
                                     comment: c))
        }
        return commands
    }

    /// The postrouting chain's rules: multicast returns, then a goto to the checks.
    public static var postroutingRules: [[NFTExpression]] {
        [IPPrefix("224.0.0.0/4")!, IPPrefix("ff00::/8")!].map {
            NFTMatch.nfproto($0.family) + NFTMatch.address(source: false, $0) + [.verdict(.return)]
        } + [[.verdict(.goto(chain))]]
    }

    static func rules(_ nf: NFTables) throws(FirewallError) -> [NFTablesRule] {
        try nf.rules(.inet, table: table, chain: chain)
    }

    public static func setup(_ nf: NFTables, _ addresses: [IPPrefix], network: String, ifName: String, containerID: String) throws(FirewallError) {
        let hash = instanceHash(network: network, ifName: ifName, containerID: containerID)
        let stale = try rules(nf).filter { $0.comment.hasPrefix(hash) }
        let postrouting = try nf.rules(.inet, table: table, chain: "postrouting", expressions: true).map(\.expressions)
        let intact = postrouting == postroutingRules.map { Optional($0) }
        var existing: [String] = []
        for c in [chain, "postrouting"] where try nf.chainExists(.inet, table: table, chain: c) { existing.append(c) }
        do {
            try nf.apply(setupCommands(addresses, network: network, ifName: ifName, containerID: containerID, stale: stale,
                                       existing: existing, postroutingIntact: intact))
        } catch {
            // Something changed between the reading and the batch (a chain or a stale rule went):
            // the reference's whole script once more, the stale rules read again.
            guard !existing.isEmpty || intact || !stale.isEmpty else { throw error }
            let again = try rules(nf).filter { $0.comment.hasPrefix(hash) }
            try nf.apply(setupCommands(addresses, network: network, ifName: ifName, containerID: containerID, stale: again))
        }
    }

    /// Deletes the attachment's rules; nothing to do when there are none (or no table).
    public static func teardown(_ nf: NFTables, network: String, ifName: String, containerID: String) throws(FirewallError) {
        try nf.apply(try teardownCommands(nf, network: network, ifName: ifName, containerID: containerID))
    }

    /// What deletes the attachment's rules (read from the kernel).
    public static func teardownCommands(_ nf: NFTables, network: String, ifName: String, containerID: String) throws(FirewallError) -> [NFTCommand] {
        let hash = instanceHash(network: network, ifName: ifName, containerID: containerID)
        return try rules(nf).filter { $0.comment.hasPrefix(hash) }.map(\.deleteCommand)
    }

    /// Deletes the network's rules of attachments not in `valid`, in batches of at most 500 (a
    /// batch must fit the socket's buffer).
    public static func gc(_ nf: NFTables, network: String, valid: [Attachment]) throws(FirewallError) {
        let keep = Set(valid.map { comment(network: network, ifName: $0.ifname, containerID: $0.containerID) })
        let net = networkHash(network) + "-"
        let stale = try rules(nf).filter { $0.comment.hasPrefix(net) && !keep.contains($0.comment) }.map(\.deleteCommand)
        for start in stride(from: 0, to: stale.count, by: 500) {
            try nf.apply(Array(stale[start..<min(start + 500, stale.count)]))
        }
    }
}
