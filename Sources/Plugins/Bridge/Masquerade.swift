import CNI
import Firewall
import IPAddressing
import Netlink
import PluginKit

/// The bridge's `ipMasq` through the configured backend. Unset, it is nftables when the host uses
/// nftables (the `nft` command is installed) or has no iptables, else iptables (the reference
/// prefers iptables; both of its layouts are ours, and DEL and GC clean up both, so a node can move
/// between them and between the two plugins). nftables is spoken in-process (Firewall's
/// `NFTables`): no `nft` process runs.
enum Masquerade {
    case nftables(NFTables)
    case iptables

    init(_ backend: BridgeConfig.MasqBackend?) throws(FirewallError) {
        switch backend {
        case .nftables?: self = .nftables(try NFTables.open())
        case .iptables?: self = .iptables
        case nil:
            if (try? NFT.locate()) != nil || IPTables.locate(.v4) == nil { self = .nftables(try NFTables.open()) }
            else { self = .iptables }
        }
    }

    /// The nftables socket, when that is the backend.
    var nftables: NFTables? {
        if case .nftables(let nf) = self { return nf }
        return nil
    }

    func setup(_ addresses: [IPPrefix], network: String, ifName: String, containerID: String) throws(FirewallError) {
        switch self {
        case .nftables(let nf): try IPMasq.setup(nf, addresses, network: network, ifName: ifName, containerID: containerID)
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
        case .nftables(let nf): try IPMasq.teardown(nf, network: network, ifName: ifName, containerID: containerID)
        case .iptables: try IPTablesMasq.teardown(network: network, containerID: containerID)
        }
    }

    /// Removes an attachment's MAC spoof check (`check`) and masquerading (`masquerade`: both
    /// layouts, as the reference — the attachment may come from another version or config), each
    /// tried even when another fails; a backend this host cannot use (nftables missing in the
    /// kernel, no iptables) is skipped. The nftables rules go in one transaction on one socket,
    /// which is returned open: nf_tables frees what a transaction deleted after an RCU grace
    /// period, and closing any NETLINK_NETFILTER socket before then waits for it (7–15 ms on these
    /// machines; `nft` pays it at exit) — so the caller keeps it while it does the rest of its DEL.
    static func teardownRules(check: SpoofCheck?, masquerade: Bool, network: String, ifName: String, containerID: String,
                              _ steps: inout BestEffort) -> NFTables? {
        var nf: NFTables?
        steps.run { nf = try NFTables.openForCleanup() }
        if let nf, check != nil || masquerade {
            steps.run {
                do {
                    var commands: [NFTCommand] = []
                    if let check { commands += try check.teardownCommands(nf) }
                    if masquerade { commands += try IPMasq.teardownCommands(nf, network: network, ifName: ifName, containerID: containerID) }
                    try nf.apply(commands)
                } catch {
                    guard nf.isUsable else { return }   // no nf_tables in this kernel: nothing of ours there
                    // Another DEL may have removed a part meanwhile: each part again, on its own.
                    var each = BestEffort()
                    if let check { each.run { try check.teardown(nf) } }
                    if masquerade { each.run { try IPMasq.teardown(nf, network: network, ifName: ifName, containerID: containerID) } }
                    try each.finish()
                }
            }
        }
        if masquerade { steps.run { try IPTablesMasq.teardown(network: network, containerID: containerID, nf: nf) } }
        return nf
    }

    static func gc(network: String, valid: [Attachment]) throws(CNIError) {
        var steps = BestEffort()
        steps.run { try NFTables.cleanup { nf throws(FirewallError) in try IPMasq.gc(nf, network: network, valid: valid) } }
        steps.run { try IPTablesMasq.gc(network: network, valid: valid) }
        try steps.finish()
    }
}
