import IPAM
import IPAddressing
import Testing

func ip(_ s: String) -> IPAddress { IPAddress(s)! }
func net(_ s: String) -> IPPrefix { IPPrefix(s)! }

@Suite struct IPRangeTests {
    @Test func defaults() throws {
        let v4 = try IPRange(subnet: net("10.0.0.0/24"))
        #expect(v4.gateway == ip("10.0.0.1") && v4.rangeStart == ip("10.0.0.1") && v4.rangeEnd == ip("10.0.0.254"))
        #expect(v4.capacity == 253)
        let v6 = try IPRange(subnet: net("2001:db8::/120"))
        #expect(v6.rangeEnd == ip("2001:db8::ff") && v6.gateway == ip("2001:db8::1"))
        let custom = try IPRange(subnet: net("10.0.0.0/24"), rangeStart: ip("10.0.0.100"), rangeEnd: ip("10.0.0.110"), gateway: ip("10.0.0.254"))
        #expect(custom.capacity == 11)
        #expect(custom.description == "10.0.0.100-10.0.0.110")
    }

    @Test(arguments: [
        ("10.0.0.0/31", nil, nil, "Network 10.0.0.0/31 too small to allocate from"),
        ("10.0.0.0/32", nil, nil, "Network 10.0.0.0/32 too small to allocate from"),
        ("2001:db8::/127", nil, nil, "Network 2001:db8::/127 too small to allocate from"),
        ("10.0.0.1/24", nil, nil, "Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0"),
        ("10.0.0.0/24", "10.0.1.5", nil, "RangeStart 10.0.1.5 not in network 10.0.0.0/24"),
        ("10.0.0.0/24", nil, "10.0.1.5", "RangeEnd 10.0.1.5 not in network 10.0.0.0/24"),
        ("10.0.0.0/24", "10.0.0.50", "10.0.0.40", "RangeEnd 10.0.0.40 is before RangeStart 10.0.0.50"),
    ] as [(String, String?, String?, String)])
    func invalid(subnet: String, start: String?, end: String?, message: String) {
        let e = #expect(throws: IPAMError.self) {
            try IPRange(subnet: net(subnet), rangeStart: start.map(ip), rangeEnd: end.map(ip))
        }
        #expect(e?.description == message)
    }

    @Test func rangeSets() throws {
        let a = try IPRange(subnet: net("10.0.0.0/24"))
        let b = try IPRange(subnet: net("10.0.1.0/24"))
        let set = try RangeSet([a, b])
        #expect(set.description == "10.0.0.1-10.0.0.254,10.0.1.1-10.0.1.254")
        #expect(set.range(for: ip("10.0.1.9")) == b)
        #expect(!set.contains(ip("10.0.2.1")))
        #expect(throws: IPAMError.self) { try RangeSet([a, try IPRange(subnet: net("10.0.0.0/25"))]) }
        #expect(throws: IPAMError.self) { try RangeSet([a, try IPRange(subnet: net("2001:db8::/64"))]) }
        #expect(throws: IPAMError.self) { try RangeSet([]) }
        // Same subnet, disjoint pools: fine.
        _ = try RangeSet([try IPRange(subnet: net("10.0.0.0/24"), rangeEnd: ip("10.0.0.50")),
                          try IPRange(subnet: net("10.0.0.0/24"), rangeStart: ip("10.0.0.51"))])
    }
}

@Suite struct CandidateOrderTests {
    func order(_ set: RangeSet, last: String?) -> [String] {
        CandidateSequence(set, lastReserved: last.map(ip)).map { $0.0.description }
    }

    @Test func fromTheStartSkippingTheGateway() throws {
        let set = try RangeSet([try IPRange(subnet: net("10.0.0.0/29"))])
        #expect(order(set, last: nil) == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"])
    }

    @Test func roundRobinAfterTheLastReservedWrappingOnce() throws {
        let set = try RangeSet([try IPRange(subnet: net("10.0.0.0/29"))])
        #expect(order(set, last: "10.0.0.4") == ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        // A last address outside the set (config changed) starts over.
        #expect(order(set, last: "192.168.0.1").first == "10.0.0.2")
    }

    @Test func acrossPools() throws {
        let set = try RangeSet([try IPRange(subnet: net("10.0.0.0/29"), rangeStart: ip("10.0.0.5")),
                                try IPRange(subnet: net("10.0.1.0/29"), rangeEnd: ip("10.0.1.3"))])
        #expect(order(set, last: "10.0.0.6") == ["10.0.1.2", "10.0.1.3", "10.0.0.5", "10.0.0.6"])
    }

    @Test func gatewayInTheMiddleAndV6() throws {
        let set = try RangeSet([try IPRange(subnet: net("2001:db8::/126"), gateway: ip("2001:db8::2"))])
        #expect(order(set, last: nil) == ["2001:db8::1", "2001:db8::3"])
    }
}
