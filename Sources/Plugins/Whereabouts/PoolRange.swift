import IPAM
import IPAddressing

/// One whereabouts range: the subnet (its network address is offset 0 of the pool), the
/// addresses that may be handed out (`first`...`last`: the usable addresses, narrowed by
/// `range_start`/`range_end` when they lie inside, as upstream's GetIPRange), the excluded
/// subnets and the gateway. Unlike upstream the gateway is never handed out (whereabouts#601);
/// as upstream, the network and broadcast (all-ones) addresses never are either, in both families.
/// Offsets are 128-bit, so an IPv6 range of any size works (upstream: the first /65 only).
public struct PoolRange: Sendable, Equatable, CustomStringConvertible {
    public let subnet: IPPrefix
    public let first: IPAddress
    public let last: IPAddress
    public let excluded: [IPPrefix]
    public let gateway: IPAddress?

    public init(subnet: IPPrefix, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil,
                excluded: [IPPrefix] = [], gateway: IPAddress? = nil) throws(IPAMError) {
        let s = subnet.masked
        guard s.length <= s.family.bitWidth - 2 else {
            throw .invalidRange("net mask is too short, subnet \(s) has no usable IP addresses, it is too small")
        }
        var lo = s.network.advanced(by: 1)!
        var hi = s.last.retreated(by: 1)!
        if let start = rangeStart {
            guard start.family == s.family else { throw .invalidRange("range_start \(start) is not of the family of \(s)") }
            if start >= lo && start <= hi { lo = start }
        }
        if let end = rangeEnd {
            guard end.family == s.family else { throw .invalidRange("range_end \(end) is not of the family of \(s)") }
            if end >= lo && end <= hi { hi = end }
        }
        for e in excluded where e.family != s.family {
            throw .invalidRange("exclude \(e) is not of the family of \(s)")
        }
        self.subnet = s
        (first, last) = (lo, hi)
        self.excluded = excluded.map(\.masked)
        self.gateway = gateway.flatMap { $0.family == s.family && s.contains($0) ? $0 : nil }
    }

    public var family: IPAddress.Family { subnet.family }
    public var network: IPAddress { subnet.network }

    /// The pool's key for an address: its distance from the network address (upstream's offset).
    public func offset(of ip: IPAddress) -> UInt128? {
        subnet.contains(ip) ? ip.value - network.value : nil
    }

    public func address(at offset: UInt128) -> IPAddress? {
        guard offset <= subnet.last.value - network.value else { return nil }
        return network.advanced(by: offset)
    }

    /// May this address be handed out: between first and last, not excluded, not the gateway.
    public func isAllocatable(_ ip: IPAddress) -> Bool {
        ip.family == family && ip >= first && ip <= last && ip != gateway && !excluded.contains { $0.contains(ip) }
    }

    /// The lowest allocatable address whose offset is not in `taken`. Skips an excluded subnet
    /// in one step; the number of steps is bounded by the allocations and exclusions, not by the
    /// size of the range.
    public func firstFree(taken: Set<UInt128>) -> IPAddress? {
        firstFree { taken.contains($0) }
    }

    /// The lowest allocatable address at or after `start` (default: `first`) whose offset
    /// `isTaken` does not claim.
    public func firstFree(from start: IPAddress? = nil, isTaken: (UInt128) -> Bool) -> IPAddress? {
        var ip = start.map { max($0, first) } ?? first
        while ip <= last {
            if let e = excluded.first(where: { $0.contains(ip) }) {
                guard e.last < last, let next = e.last.advanced(by: 1) else { return nil }
                ip = next
                continue
            }
            if ip != gateway && !isTaken(ip.value - network.value) { return ip }
            guard ip < last, let next = ip.advanced(by: 1) else { return nil }
            ip = next
        }
        return nil
    }

    /// How many addresses may be handed out in all.
    public var capacity: UInt128 {
        var n = last.value - first.value + 1
        // Exclusions clipped to first...last, overlapping ones merged.
        var spans: [(UInt128, UInt128)] = excluded.compactMap { e in
            let lo = max(e.network.value, first.value), hi = min(e.last.value, last.value)
            return lo <= hi ? (lo, hi) : nil
        }.sorted { $0.0 < $1.0 }
        var merged: [(UInt128, UInt128)] = []
        for s in spans {
            if let m = merged.last, s.0 <= m.1 { merged[merged.count - 1].1 = max(m.1, s.1) } else { merged.append(s) }
        }
        spans = merged
        for s in spans { n -= s.1 - s.0 + 1 }
        if let g = gateway, g >= first, g <= last, !excluded.contains(where: { $0.contains(g) }) { n -= 1 }
        return n
    }

    /// The range as upstream normalizes it (`10.1.0.0/16`), the pool's `spec.range`.
    public var cidr: String { subnet.description }

    public var description: String { "\(first)-\(last) in \(subnet)" }

    /// The pool's name: the CIDR with ':' and '/' as '-' (a trailing ':' gets a '0'), after
    /// `<network_name>-` when one is set — upstream's IPPoolName, so both share a pool.
    public func poolName(networkName: String) -> String {
        let base = Self.normalize(cidr)
        return networkName.isEmpty ? base : networkName + "-" + base
    }

    /// The network name a pool of this range named `poolName` belongs to ("" for none); nil when
    /// the name is not of this range.
    public func networkName(fromPoolName poolName: String) -> String? {
        let suffix = Self.normalize(cidr)
        if poolName == suffix { return "" }
        return poolName.hasSuffix("-" + suffix) ? String(poolName.dropLast(suffix.count + 1)) : nil
    }

    /// An overlapping-range reservation's name for an address (upstream's NormalizeIP).
    public static func reservationName(_ ip: IPAddress, networkName: String) -> String {
        let base = normalize(ip.description)
        return networkName.isEmpty ? base : networkName + "-" + base
    }

    /// upstream's normalizeRange / NormalizeIP: a trailing ':' gets a '0', then ':' and '/' become '-'.
    static func normalize(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars { out.unicodeScalars.append(c == ":" || c == "/" ? "-" : c) }
        return text.hasSuffix(":") ? out + "0" : out
    }
}
