import IPAddressing
import Netlink

/// nf_tables in this process (Netlink's `NFTablesSocket`), refusals as FirewallError: what the
/// bridge's masquerading and MAC spoof check use instead of running `nft` (two processes per ADD
/// and per DEL before; egress-router, which works in the pod's namespace once per ADD, still runs
/// the command: `NFT`).
public struct NFTables {
    let socket: NFTablesSocket

    /// A socket in the calling thread's network namespace.
    public static func open() throws(FirewallError) -> NFTables {
        do { return NFTables(socket: try NFTablesSocket()) } catch { throw FirewallError(error) }
    }

    /// A cleanup skipped where nftables cannot work here (the kernel has no nf_tables: the socket
    /// or the subsystem refuses), as the reference skips a backend the host does not support. The
    /// check costs a request only when the cleanup itself failed.
    public static func cleanup(_ body: (NFTables) throws(FirewallError) -> Void) throws(FirewallError) {
        guard let nf = try openForCleanup() else { return }
        do { try body(nf) } catch {
            guard nf.isUsable else { return }
            throw error
        }
    }

    /// A socket for a cleanup; nil only when this kernel has no nfnetlink at all (nothing of
    /// ours can be there) — any other failure (out of descriptors, memory) is one.
    public static func openForCleanup() throws(FirewallError) -> NFTables? {
        do { return NFTables(socket: try NFTablesSocket()) } catch {
            if error.isProtocolMissing { return nil }
            throw FirewallError(error)
        }
    }

    /// False when the kernel refuses nf_tables requests as a kernel without nf_tables does (the
    /// subsystem answers EINVAL or EOPNOTSUPP to a listing); true otherwise, also when the probe
    /// fails for another reason (then the caller's own error stands).
    public var isUsable: Bool {
        do { _ = try socket.rules(.inet, table: "cni-probe", chain: "cni-probe"); return true } catch {
            return !error.isUnsupportedHint
        }
    }

    /// The chain's rules; their expressions decoded with `expressions`.
    public func rules(_ family: NFTFamily, table: String, chain: String, expressions: Bool = false) throws(FirewallError) -> [NFTablesRule] {
        do { return try socket.rules(family, table: table, chain: chain, expressions: expressions) } catch { throw FirewallError(error) }
    }

    public func chainExists(_ family: NFTFamily, table: String, chain: String) throws(FirewallError) -> Bool {
        do { return try socket.chainExists(family, table: table, chain: chain) } catch { throw FirewallError(error) }
    }

    /// NF_ACCEPT, as a base chain's policy reads.
    public static let accept = NFTablesSocket.policyAccept

    /// A base chain's policy; `.some(nil)` for a regular chain, nil when there is no such chain.
    public func chainPolicy(_ family: NFTFamily, table: String, chain: String) throws(FirewallError) -> Int32?? {
        do { return try socket.chain(family, table: table, chain: chain) } catch { throw FirewallError(error) }
    }

    /// All of the commands or none.
    public func apply(_ commands: [NFTCommand]) throws(FirewallError) {
        do { try socket.apply(commands) } catch { throw FirewallError(error) }
    }
}

extension FirewallError {
    init(_ e: NetlinkError) {
        let hint = e.isUnsupportedHint ? " (does this kernel have nf_tables?)" : ""
        self.init("nftables refused \(e.operation)", details: e.message + hint)
    }
}

/// The expressions nft compiles a few matches to (read off `nft --debug=netlink`), so that `nft
/// list` shows our rules exactly as it shows its own.
public enum NFTMatch {
    /// `meta nfproto ipv4|ipv6`: the dependency nft puts before an ip/ip6 match in an inet table.
    public static func nfproto(_ family: IPAddress.Family) -> [NFTExpression] {
        [.meta(key: NFTExpression.metaNFProto), .cmp(equal: true, [family == .v4 ? 2 : 10])]
    }

    /// `ip|ip6 saddr|daddr [!=] <prefix>`: a byte-aligned prefix loads only its bytes; any other
    /// (/0 too) loads the whole address and masks it.
    public static func address(source: Bool, _ p: IPPrefix, equal: Bool = true) -> [NFTExpression] {
        let v4 = p.family == .v4, size = v4 ? 4 : 16
        let offset: UInt32 = v4 ? (source ? 12 : 16) : (source ? 8 : 24)
        let network = p.masked.address.bytes
        if p.length > 0 && p.length % 8 == 0 {
            let n = p.length / 8
            return [.payload(.network, offset: offset, length: UInt32(n)), .cmp(equal: equal, Array(network.prefix(n)))]
        }
        let mask = (0..<size).map { i -> UInt8 in
            let bits = min(max(p.length - i * 8, 0), 8)
            return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        return [.payload(.network, offset: offset, length: UInt32(size)),
                .bitwise(mask: mask, xor: [UInt8](repeating: 0, count: size)),
                .cmp(equal: equal, network)]
    }

    /// `iifname "<name>"`: the name NUL-padded to IFNAMSIZ.
    public static func iifname(_ name: String) -> [NFTExpression] {
        var bytes = Array(name.utf8.prefix(15))
        bytes += [UInt8](repeating: 0, count: 16 - bytes.count)
        return [.meta(key: NFTExpression.metaIIFName), .cmp(equal: true, bytes)]
    }

    /// `ether saddr <mac>` in a bridge table.
    public static func etherSource(_ mac: MACAddress) -> [NFTExpression] {
        [.payload(.link, offset: 6, length: 6), .cmp(equal: true, mac.bytes)]
    }
}
