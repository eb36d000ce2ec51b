import Basics
import CNI
import IPAddressing

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
    /// deleting `stale` rules of the same attachment first.
    public static func setupScript(_ addresses: [IPPrefix], network: String, ifName: String, containerID: String,
                                   stale: [NFTRule] = []) -> String {
        let t = "inet \(table)"
        var lines = [
            "add table \(t) { comment \(quoted("Masquerading for plugins from github.com/containernetworking/plugins")) ; }",
            "add chain \(t) \(chain) { comment \(quoted("Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet")) ; }",
            "add chain \(t) postrouting { type nat hook postrouting priority srcnat ; }",
            "flush chain \(t) postrouting",
            "add rule \(t) postrouting ip daddr 224.0.0.0/4 return",
            "add rule \(t) postrouting ip6 daddr ff00::/8 return",
            "add rule \(t) postrouting goto \(chain)",
        ]
        lines += stale.map(\.deleteCommand)
        let c = quoted(comment(network: network, ifName: ifName, containerID: containerID))
        for a in addresses {
            let ip = a.family == .v4 ? "ip" : "ip6"
            lines.append("add rule \(t) \(chain) \(ip) saddr \(a.address) \(ip) daddr != \(a.masked) masquerade comment \(c)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func rules(_ nft: NFT) throws(FirewallError) -> [NFTRule] {
        NFTRule.all(in: try nft.list(["chain", "inet", table, chain]))
    }

    public static func setup(_ nft: NFT, _ addresses: [IPPrefix], network: String, ifName: String, containerID: String) throws(FirewallError) {
        let hash = instanceHash(network: network, ifName: ifName, containerID: containerID)
        let stale = try rules(nft).filter { $0.comment.hasPrefix(hash) }
        try nft.apply(setupScript(addresses, network: network, ifName: ifName, containerID: containerID, stale: stale))
    }

    /// Deletes the attachment's rules; nothing to do when there are none (or no table).
    public static func teardown(_ nft: NFT, network: String, ifName: String, containerID: String) throws(FirewallError) {
        let hash = instanceHash(network: network, ifName: ifName, containerID: containerID)
        let mine = try rules(nft).filter { $0.comment.hasPrefix(hash) }
        guard !mine.isEmpty else { return }
        try nft.apply(mine.map(\.deleteCommand).joined(separator: "\n") + "\n")
    }

    /// Deletes the network's rules of attachments not in `valid`.
    public static func gc(_ nft: NFT, network: String, valid: [Attachment]) throws(FirewallError) {
        let keep = Set(valid.map { comment(network: network, ifName: $0.ifname, containerID: $0.containerID) })
        let net = networkHash(network) + "-"
        let stale = try rules(nft).filter { $0.comment.hasPrefix(net) && !keep.contains($0.comment) }
        guard !stale.isEmpty else { return }
        try nft.apply(stale.map(\.deleteCommand).joined(separator: "\n") + "\n")
    }
}
