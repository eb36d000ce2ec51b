import CNI
import IPAddressing

/// The bridge's `macspoofchk`, in the reference's layout (pkg/link/spoofcheck.go): in table
/// `bridge nat`, a PREROUTING filter chain (priority -300) jumps frames entering from the pod's
/// port to `cni-br-iface-<id>`, which goes to `cni-br-iface-<id>-mac`: the pod's MAC returns,
/// anything else is dropped. Every rule carries the comment `macspoofchk-<id>`.
public struct SpoofCheck: Sendable {
    public static let table = "nat"
    public static let baseChain = "PREROUTING"
    /// containerID-ifName, as the reference's uniqueID.
    public let id: String

    public init(containerID: String, ifName: String) { id = containerID + "-" + ifName }

    public var ifaceChain: String { "cni-br-iface-" + id }
    public var macChain: String { ifaceChain + "-mac" }
    public var comment: String { "macspoofchk-" + id }

    public func setupScript(port: String, mac: MACAddress) -> String {
        let t = "bridge \(Self.table)", c = "comment \(quoted(comment))"
        return [
            "add table \(t)",
            "add chain \(t) \(Self.baseChain) { type filter hook prerouting priority -300 ; policy accept ; }",
            "add chain \(t) \(ifaceChain)",
            "add chain \(t) \(macChain)",
            "flush chain \(t) \(ifaceChain)",
            "flush chain \(t) \(macChain)",
            "add rule \(t) \(Self.baseChain) iifname \(quoted(port)) jump \(ifaceChain) \(c)",
            "add rule \(t) \(ifaceChain) jump \(macChain) \(c)",
            "add rule \(t) \(macChain) ether saddr \(mac) return \(c)",
            "add rule \(t) \(macChain) drop \(c)",
        ].joined(separator: "\n") + "\n"
    }

    public func setup(_ nft: NFT, port: String, mac: MACAddress) throws(FirewallError) {
        try nft.apply(setupScript(port: port, mac: mac))
    }

    /// What tears this check down in a listing of `bridge nat`: the base chain's jumps to our
    /// chain, then our chains.
    public func teardownScript(listing: JSONValue?) -> String? {
        let jumps = NFTRule.all(in: listing).filter { $0.chain == Self.baseChain && $0.target == ifaceChain }
        let chains = Set(NFTRule.chains(in: listing))
        var lines = jumps.map(\.deleteCommand)
        for c in [ifaceChain, macChain] where chains.contains(c) { lines.append("delete chain bridge \(Self.table) \(c)") }
        return lines.isEmpty ? nil : lines.joined(separator: "\n") + "\n"
    }

    /// Removes the check; nothing to do when it is not there.
    public func teardown(_ nft: NFT) throws(FirewallError) {
        guard let script = teardownScript(listing: try nft.list(["table", "bridge", Self.table])) else { return }
        try nft.apply(script)
    }
}
