import CNI
import IPAddressing
import Netlink

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

    /// As the reference's script (nft's `add chain` leaves an existing chain alone; the flushes
    /// make a repeated ADD replace the rules):
    ///
    ///     add table bridge nat
    ///     add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }
    ///     add chain bridge nat cni-br-iface-<id>
    ///     add chain bridge nat cni-br-iface-<id>-mac
    ///     flush chain bridge nat cni-br-iface-<id>
    ///     flush chain bridge nat cni-br-iface-<id>-mac
    ///     add rule bridge nat PREROUTING iifname "<port>" jump cni-br-iface-<id> comment "macspoofchk-<id>"
    ///     add rule bridge nat cni-br-iface-<id> jump cni-br-iface-<id>-mac comment "…"
    ///     add rule bridge nat cni-br-iface-<id>-mac ether saddr <mac> return comment "…"
    ///     add rule bridge nat cni-br-iface-<id>-mac drop comment "…"
    ///
    /// `existing` chains are not added again (see IPMasq.setupCommands: an update the process
    /// would wait for at exit).
    public func setupCommands(port: String, mac: MACAddress, existing: [String] = []) -> [NFTCommand] {
        let t = Self.table
        let chains: [NFTCommand] = [
            .addChain(.bridge, table: t, chain: Self.baseChain, comment: nil,
                      base: NFTBaseChain(type: "filter", hook: NFTBaseChain.bridgePrerouting, priority: -300, policyAccept: true)),
            .addChain(.bridge, table: t, chain: ifaceChain, comment: nil, base: nil),
            .addChain(.bridge, table: t, chain: macChain, comment: nil, base: nil),
        ]
        return [.addTable(.bridge, t, comment: nil)] + chains.filter { c in
            if case .addChain(_, _, let name, _, _) = c { return !existing.contains(name) }
            return true
        } + [
            .flushChain(.bridge, table: t, chain: ifaceChain),
            .flushChain(.bridge, table: t, chain: macChain),
            .addRule(.bridge, table: t, chain: Self.baseChain, NFTMatch.iifname(port) + [.verdict(.jump(ifaceChain))], comment: comment),
            .addRule(.bridge, table: t, chain: ifaceChain, [.verdict(.jump(macChain))], comment: comment),
            .addRule(.bridge, table: t, chain: macChain, NFTMatch.etherSource(mac) + [.verdict(.return)], comment: comment),
            .addRule(.bridge, table: t, chain: macChain, [.verdict(.drop)], comment: comment),
        ]
    }

    /// The base chain counts as there only with its policy accept (the reference's `add chain`
    /// sets it on every ADD). When the batch is refused — a chain went between the reading and the
    /// batch — the whole script is sent once more, as the reference sends it.
    public func setup(_ nf: NFTables, port: String, mac: MACAddress) throws(FirewallError) {
        var existing: [String] = []
        if try nf.chainPolicy(.bridge, table: Self.table, chain: Self.baseChain) == .some(NFTables.accept) { existing.append(Self.baseChain) }
        for c in [ifaceChain, macChain] where try nf.chainExists(.bridge, table: Self.table, chain: c) { existing.append(c) }
        do { try nf.apply(setupCommands(port: port, mac: mac, existing: existing)) } catch {
            guard !existing.isEmpty else { throw error }
            try nf.apply(setupCommands(port: port, mac: mac))
        }
    }

    /// What tears this check down: the base chain's jumps to our chain, then our chains (those
    /// that exist).
    public func teardownCommands(jumps: [NFTablesRule], chains: [String]) -> [NFTCommand] {
        jumps.filter { $0.chain == Self.baseChain && $0.target == ifaceChain }.map(\.deleteCommand)
            + [ifaceChain, macChain].filter(chains.contains).map { .deleteChain(.bridge, table: Self.table, chain: $0) }
    }

    /// Removes the check; nothing to do when it is not there.
    public func teardown(_ nf: NFTables) throws(FirewallError) {
        try nf.apply(try teardownCommands(nf))
    }

    /// What removes the check (read from the kernel).
    public func teardownCommands(_ nf: NFTables) throws(FirewallError) -> [NFTCommand] {
        let jumps = try nf.rules(.bridge, table: Self.table, chain: Self.baseChain)
        var chains: [String] = []
        for c in [ifaceChain, macChain] where try nf.chainExists(.bridge, table: Self.table, chain: c) { chains.append(c) }
        return teardownCommands(jumps: jumps, chains: chains)
    }
}
