import IPAddressing

/// One pool of a range set: a subnet with an optional start, end and gateway, validated and
/// with the reference's defaults filled in (host-local `range.go`).
public struct IPRange: Sendable, Equatable, CustomStringConvertible {
    public let subnet: IPPrefix
    public let rangeStart: IPAddress
    public let rangeEnd: IPAddress
    public let gateway: IPAddress

    /// Validates and completes a range: no host bits; at least /30 (v4) or /126 (v6); the gateway
    /// defaults to network+1, the start to network+1, the end to broadcast-1 (v4) or the last
    /// address (v6); start and end must lie in the subnet.
    public init(subnet: IPPrefix, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil,
                gateway: IPAddress? = nil) throws(IPAMError) {
        let width = subnet.family.bitWidth
        if subnet.length > width - 2 {
            throw .invalidRange("Network \(subnet.masked) too small to allocate from")
        }
        if subnet.hasHostBits {
            throw .invalidRange("Network has host bits set. For a subnet mask of length \(subnet.length) the network address is \(subnet.network)")
        }
        let net = subnet.network
        if let ip = gateway, ip.family != subnet.family { throw .invalidRange("Gateway \(ip) is not of the family of network \(subnet)") }
        if let ip = rangeStart, ip.family != subnet.family { throw .invalidRange("RangeStart \(ip) is not of the family of network \(subnet)") }
        if let ip = rangeEnd, ip.family != subnet.family { throw .invalidRange("RangeEnd \(ip) is not of the family of network \(subnet)") }
        self.subnet = subnet
        self.gateway = gateway ?? net.advanced(by: 1)!
        let start = rangeStart ?? net.advanced(by: 1)!
        guard subnet.contains(start) else { throw .invalidRange("RangeStart \(start) not in network \(subnet)") }
        let end = rangeEnd ?? (subnet.family == .v4 ? subnet.last.retreated(by: 1)! : subnet.last)
        guard subnet.contains(end) else { throw .invalidRange("RangeEnd \(end) not in network \(subnet)") }
        if end < start { throw .invalidRange("RangeEnd \(end) is before RangeStart \(start)") }
        self.rangeStart = start
        self.rangeEnd = end
    }

    public var family: IPAddress.Family { subnet.family }

    /// In the subnet and between start and end.
    public func contains(_ ip: IPAddress) -> Bool {
        subnet.contains(ip) && ip >= rangeStart && ip <= rangeEnd
    }

    public func overlaps(_ other: IPRange) -> Bool {
        family == other.family && rangeStart <= other.rangeEnd && other.rangeStart <= rangeEnd
    }

    /// How many addresses can be handed out (the gateway is never one).
    public var capacity: UInt128 {
        let n = rangeEnd.value - rangeStart.value + 1
        return contains(gateway) ? n - 1 : n
    }

    /// `start-end`, as in the reference's messages.
    public var description: String { "\(rangeStart)-\(rangeEnd)" }
}

/// A set of pools of one family; an attachment gets one address from each range set.
public struct RangeSet: Sendable, Equatable, CustomStringConvertible {
    public let ranges: [IPRange]

    public init(_ ranges: [IPRange]) throws(IPAMError) {
        guard let first = ranges.first else { throw .invalidRange("empty range set") }
        if ranges.contains(where: { $0.family != first.family }) { throw .invalidRange("mixed address families") }
        for i in ranges.indices {
            for j in ranges.indices where j > i && ranges[i].overlaps(ranges[j]) {
                throw .invalidRange("subnets \(ranges[i]) and \(ranges[j]) overlap")
            }
        }
        self.ranges = ranges
    }

    public var family: IPAddress.Family { ranges[0].family }

    public func range(for ip: IPAddress) -> IPRange? { ranges.first { $0.contains(ip) } }
    public func contains(_ ip: IPAddress) -> Bool { range(for: ip) != nil }

    public func overlaps(_ other: RangeSet) -> Bool {
        ranges.contains { r in other.ranges.contains { r.overlaps($0) } }
    }

    public var capacity: UInt128 { ranges.reduce(0) { $0 + $1.capacity } }

    public var description: String { ranges.map(\.description).joined(separator: ",") }
}
