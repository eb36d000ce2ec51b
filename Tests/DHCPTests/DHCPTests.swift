import DHCP
import IPAddressing
import Testing

@Suite struct DHCPMessageTests {
    let mac: [UInt8] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]

    @Test func aDiscoverOnTheWire() {
        var m = DHCPMessage(op: .request, xid: 0x1234_5678, chaddr: mac, options: [
            (DHCPOption.messageType, [1]), (DHCPOption.clientIdentifier, Array("ctr1/net/eth0".utf8)),
            (DHCPOption.parameterRequestList, [1, 3, 6, 121]),
        ])
        m.broadcast = true
        let b = m.encode()
        #expect(b.count == 300)
        #expect(Array(b[0..<4]) == [1, 1, 6, 0])                  // op, htype Ethernet, hlen, hops
        #expect(Array(b[4..<8]) == [0x12, 0x34, 0x56, 0x78])      // xid
        #expect(Array(b[10..<12]) == [0x80, 0])                   // broadcast flag
        #expect(Array(b[28..<34]) == mac)
        #expect(Array(b[236..<240]) == [99, 130, 83, 99])
        #expect(Array(b[240..<243]) == [53, 1, 1])
        #expect(DHCPMessage(decoding: b) == m)
        #expect(DHCPMessage(decoding: b)?.messageType == .discover)
    }

    @Test func anAckWithItsLease() throws {
        var ack = DHCPMessage(op: .reply, xid: 7, chaddr: mac, options: [
            (DHCPOption.messageType, [5]), (DHCPOption.serverIdentifier, [10, 0, 0, 1]), (DHCPOption.leaseTime, [0, 0, 0x0e, 0x10]),
            (DHCPOption.subnetMask, [255, 255, 255, 0]), (DHCPOption.router, [10, 0, 0, 1]),
            (DHCPOption.domainNameServer, [10, 0, 0, 53, 10, 0, 0, 54]),
        ])
        ack.yiaddr = IPAddress("10.0.0.42")!
        let got = try #require(DHCPMessage(decoding: ack.encode()))
        #expect(got.messageType == .ack && got.yiaddr == IPAddress("10.0.0.42"))
        #expect(DHCPOption.uint32(got.option(DHCPOption.leaseTime)!) == 3600)
        #expect(DHCPOption.addresses(got.option(DHCPOption.domainNameServer)!) == [IPAddress("10.0.0.53")!, IPAddress("10.0.0.54")!])
        #expect(DHCPOption.addresses([1, 2, 3]) == nil)
    }

    @Test func longOptionsAreSplitAndJoinedAgain() throws {
        let long = [UInt8](repeating: 7, count: 600)
        let m = DHCPMessage(op: .request, xid: 1, chaddr: mac, options: [(DHCPOption.messageType, [3]), (200, long)])
        let b = m.encode()
        #expect(b.count == 240 + 3 + (2 + 255) * 2 + (2 + 90) + 1)
        #expect(DHCPMessage(decoding: b)?.option(200) == long)
    }

    @Test func overloadedOptionsInFileAndSname() throws {
        var b = DHCPMessage(op: .reply, xid: 9, chaddr: mac, options: [(DHCPOption.messageType, [2]), (DHCPOption.overload, [3])]).encode()
        // file (108..<236): the router; sname (44..<108): the lease time.
        b.replaceSubrange(108..<115, with: [3, 4, 10, 9, 8, 1, 255])
        b.replaceSubrange(44..<51, with: [51, 4, 0, 0, 1, 0, 255])
        let m = try #require(DHCPMessage(decoding: b))
        #expect(DHCPOption.addresses(m.option(DHCPOption.router)!) == [IPAddress("10.9.8.1")!])
        #expect(DHCPOption.uint32(m.option(DHCPOption.leaseTime)!) == 256)
    }

    @Test func hostileBytesAreRefusedNotTrapped() {
        #expect(DHCPMessage(decoding: []) == nil)
        #expect(DHCPMessage(decoding: [UInt8](repeating: 0, count: 239)) == nil)
        var noCookie = DHCPMessage(op: .reply, xid: 1, chaddr: mac).encode()
        noCookie[236] = 0
        #expect(DHCPMessage(decoding: noCookie) == nil)
        var overrun = DHCPMessage(op: .reply, xid: 1, chaddr: mac).encode()
        overrun.replaceSubrange(240..<243, with: [12, 200, 65])   // a 200-byte option in a 300-byte packet
        overrun.removeLast(overrun.count - 243)
        #expect(DHCPMessage(decoding: overrun) == nil)
        var badOp = DHCPMessage(op: .reply, xid: 1, chaddr: mac).encode()
        badOp[0] = 9
        #expect(DHCPMessage(decoding: badOp) == nil)
        var hugeHlen = DHCPMessage(op: .reply, xid: 1, chaddr: mac).encode()
        hugeHlen[2] = 255
        #expect(DHCPMessage(decoding: hugeHlen)?.chaddr.count == 16)
        // Every truncation of a valid packet decodes or is refused; none traps.
        let full = DHCPMessage(op: .reply, xid: 3, chaddr: mac, options: [(53, [5]), (121, [24, 10, 1, 2, 10, 0, 0, 1])]).encode()
        for n in 0...full.count { _ = DHCPMessage(decoding: Array(full.prefix(n))) }
    }
}

@Suite struct DHCPOptionTests {
    /// RFC 3442 §1's examples.
    @Test func classlessStaticRoutesAsRFC3442() throws {
        let v: [UInt8] = [0, 10, 0, 0, 1,                // 0.0.0.0/0 via 10.0.0.1
                          24, 192, 168, 5, 10, 0, 0, 2,  // 192.168.5.0/24 via 10.0.0.2
                          8, 10, 10, 0, 0, 3,            // 10.0.0.0/8 via 10.0.0.3
                          32, 10, 20, 30, 40, 0, 0, 0, 0] // 10.20.30.40/32 on-link
        let routes = try #require(DHCPOption.classlessRoutes(v))
        #expect(routes.map(\.0.description) == ["0.0.0.0/0", "192.168.5.0/24", "10.0.0.0/8", "10.20.30.40/32"])
        #expect(routes.map(\.1.description) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "0.0.0.0"])
        #expect(DHCPOption.encodeClasslessRoutes(routes) == v)
        #expect(DHCPOption.classlessRoutes([33, 1, 2, 3, 4, 5, 6, 7, 8, 9]) == nil)   // width > 32
        #expect(DHCPOption.classlessRoutes([24, 192, 168]) == nil)                   // truncated
    }

    @Test func optionNamesAsTheReferencePlugin() {
        #expect(DHCPOption.code("classless-static-routes") == 121 && DHCPOption.code("Routers") == 3)
        #expect(DHCPOption.code("host-name") == 12 && DHCPOption.code("dhcp-client-identifier") == 61)
        #expect(DHCPOption.code("42") == 42 && DHCPOption.code("0") == nil && DHCPOption.code("255") == nil && DHCPOption.code("x") == nil)
    }
}
