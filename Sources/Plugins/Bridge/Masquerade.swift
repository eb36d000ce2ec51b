import CNI
import Firewall
import IPAddressing
import PluginKit

/// The bridge's `ipMasq` through the configured backend. Unset, it is nftables when `nft` is
/// installed, else iptables (the reference prefers iptables; both of its layouts are ours, and
/// DEL and GC clean up both, so a node can move between them and between the two plugins).
enum Masquerade {
    case nftables(NFT)
    case iptables

    init(_ backend: BridgeConfig.MasqBackend?) throws(FirewallError) {
        switch backend {
        case .nftables?: self = .nftables(try NFT.locate())
        case .iptables?: self = .iptables
        case nil:
            if let nft = try? NFT.locate() { self = .nftables(nft) }
            else if IPTables.locate(.v4) != nil { self = .iptables }
            else { self = .nftables(try NFT.locate()) }   // the error names what to install
        }
    }

    func setup(_ addresses: [IPPrefix], network: String, ifName: String, containerID: String) throws(FirewallError) {
        switch self {
        case .nftables(let nft): try IPMasq.setup(nft, addresses, network: network, ifName: ifName, containerID: containerID)
        case .iptables: try IPTablesMasq.setup(addresses, network: network, containerID: containerID)
        }
    }

    /// The attachment's rules, their removal registered first.
    func setup(_ addresses: [IPPrefix], _ r: PluginRequest, rollback: Rollback) throws(FirewallError) {
        let network = r.config.name, ifName = r.ifName, id = r.containerID
        rollback.onFailure("remove the masquerading rules") { try teardown(network: network, ifName: ifName, containerID: id) }
        try setup(addresses, network: network, ifName: ifName, containerID: id)
    }

    func teardown(network: String, ifName: String, containerID: String) throws(FirewallError) {
        switch self {
        case .nftables(let nft): try IPMasq.teardown(nft, network: network, ifName: ifName, containerID: containerID)
        case .iptables: try IPTablesMasq.teardown(network: network, containerID: containerID)
        }
    }

    /// Removes the attachment's rules from both backends, each tried even when the other fails;
    /// a backend this host cannot use (no command, or nftables missing in the kernel) is skipped.
    static func teardownAll(network: String, ifName: String, containerID: String) throws(CNIError) {
        var steps = BestEffort()
        steps.run { try NFT.cleanup { nft throws(FirewallError) in try IPMasq.teardown(nft, network: network, ifName: ifName, containerID: containerID) } }
        steps.run { try IPTablesMasq.teardown(network: network, containerID: containerID) }
        try steps.finish()
    }

    static func gc(network: String, valid: [Attachment]) throws(CNIError) {
        var steps = BestEffort()
        steps.run { try NFT.cleanup { nft throws(FirewallError) in try IPMasq.gc(nft, network: network, valid: valid) } }
        steps.run { try IPTablesMasq.gc(network: network, valid: valid) }
        try steps.finish()
    }
}
