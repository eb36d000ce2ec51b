import IPAddressing

/// The order candidates are tried in: round-robin through a range set starting after the last
/// address handed out (or at the first range's start), wrapping once, skipping gateways — the
/// reference's RangeIter, step for step.
public struct CandidateSequence: Sequence, IteratorProtocol, Sendable {
    let ranges: [IPRange]
    var index = 0
    var current: IPAddress?
    var startIP: IPAddress?

    public init(_ set: RangeSet, lastReserved: IPAddress?) {
        ranges = set.ranges
        if let last = lastReserved, let i = ranges.firstIndex(where: { $0.contains(last) }) {
            index = i
            current = last
        } else {
            startIP = ranges[0].rangeStart
        }
    }

    public mutating func next() -> (IPAddress, IPRange)? {
        while true {
            var r = ranges[index]
            if let cur = current {
                if cur == r.rangeEnd {
                    index = (index + 1) % ranges.count
                    r = ranges[index]
                    current = r.rangeStart
                } else {
                    current = cur.advanced(by: 1)
                }
                if startIP == nil { startIP = current } else if current == startIP { return nil }
            } else {
                current = r.rangeStart
                startIP = current
            }
            if current == r.gateway { continue }
            return (current!, r)
        }
    }
}

/// Hands out one address of a range set to an attachment (the reference's IPAllocator.Get).
/// The caller holds the store's lock.
public struct Allocator {
    public let rangeSet: RangeSet
    public let rangeID: Int

    public init(rangeSet: RangeSet, rangeID: Int) { (self.rangeSet, self.rangeID) = (rangeSet, rangeID) }

    public struct Allocation: Sendable, Equatable {
        public var address: IPPrefix
        public var gateway: IPAddress
    }

    public func allocate(in store: some AddressStore, containerID: String, ifName: String,
                         requested: IPAddress?) throws(IPAMError) -> Allocation {
        if let ip = requested {
            guard let r = rangeSet.range(for: ip) else {
                throw .unavailable("\(ip) not in range set \(rangeSet)")
            }
            if ip == r.gateway { throw .unavailable("requested ip \(ip) is subnet's gateway") }
            guard try store.reserve(ip, containerID: containerID, ifName: ifName, rangeID: rangeID) else {
                throw .unavailable("requested IP address \(ip) is not available in range set \(rangeSet)")
            }
            return Allocation(address: IPPrefix(address: ip, length: r.subnet.length)!, gateway: r.gateway)
        }
        let view = try store.allocationView(containerID: containerID, ifName: ifName)
        for held in view.held where rangeSet.contains(held) {
            throw .invalidConfig("\(held) has been allocated to \(containerID), duplicate allocation is not allowed")
        }
        // Under the lock the view is exact: taken addresses are skipped without trying them.
        for (ip, r) in CandidateSequence(rangeSet, lastReserved: store.lastReserved(rangeID: rangeID)) where !view.isTaken(ip) {
            if try store.reserve(ip, containerID: containerID, ifName: ifName, rangeID: rangeID) {
                return Allocation(address: IPPrefix(address: ip, length: r.subnet.length)!, gateway: r.gateway)
            }
        }
        throw .exhausted("no IP addresses available in range set: \(rangeSet)")
    }
}
