import CNI
import DHCP
import IPAddressing
import Testing

@Suite struct UDPDatagramTests {
    @Test func aBroadcastFromNoAddressRoundTrips() throws {
        let d = UDPDatagram(source: IPAddress("0.0.0.0")!, destination: IPAddress("255.255.255.255")!,
                            sourcePort: 68, destinationPort: 67, payload: Array(0..<200))
        let p = d.ipv4Packet(identification: 0x1234)
        #expect(p.count == 20 + 8 + 200)
        #expect(p[0] == 0x45 && p[9] == 17 && p[8] == 64)
        #expect(UDPDatagram.checksum(p[0..<20]) == 0)           // the header's checksum is right
        // The UDP checksum verifies over the pseudo-header.
        let pseudo = [0, 0, 0, 0, 255, 255, 255, 255, 0, 17, 0, 208] as [UInt8]
        #expect(UDPDatagram.checksum((pseudo + p[20...])[...]) == 0)
        #expect(UDPDatagram(ipv4Packet: p) == d)
    }

    @Test func refusesWhatIsNotOneWholeUDPPacket() {
        let good = UDPDatagram(source: IPAddress("10.0.0.1")!, destination: IPAddress("10.0.0.2")!,
                               sourcePort: 67, destinationPort: 68, payload: [1, 2, 3]).ipv4Packet()
        #expect(UDPDatagram(ipv4Packet: good) != nil)
        for cut in 0..<good.count { #expect(UDPDatagram(ipv4Packet: Array(good.prefix(cut))) == nil) }
        var tcp = good; tcp[9] = 6
        #expect(UDPDatagram(ipv4Packet: tcp) == nil)                // not UDP (and checksum now wrong)
        var badSum = good; badSum[10] ^= 0xFF
        #expect(UDPDatagram(ipv4Packet: badSum) == nil)
        var fragment = good; fragment[6] |= 0x20
        #expect(UDPDatagram(ipv4Packet: fragment) == nil)
        var v6 = good; v6[0] = 0x65
        #expect(UDPDatagram(ipv4Packet: v6) == nil)
        var longUDP = good; longUDP[25] = 200
        #expect(UDPDatagram(ipv4Packet: longUDP) == nil)
        // Trailing Ethernet padding beyond the IP total length is ignored.
        #expect(UDPDatagram(ipv4Packet: good + [0, 0, 0, 0])?.payload == [1, 2, 3])
    }
}

@Suite struct DHCPLeaseTests {
    let mac: [UInt8] = [2, 0, 0, 0, 0, 1]

    func ack(_ options: [(code: UInt8, value: [UInt8])], yiaddr: String = "10.1.2.50") -> DHCPMessage {
        var m = DHCPMessage(op: .reply, xid: 1, chaddr: mac, options: [(DHCPOption.messageType, [5])] + options)
        m.yiaddr = IPAddress(yiaddr)!
        return m
    }

    @Test func timesFromTheOptionsOrTheirDefaults() throws {
        let l = try DHCPLease(ack: ack([(1, [255, 255, 255, 0]), (51, [0, 0, 0, 100])]), acquired: 1000)
        #expect(l.address.description == "10.1.2.50/24")
        #expect(l.renewAt == 1050 && l.rebindAt == 1087.5 && l.expiresAt == 1100)
        let given = try DHCPLease(ack: ack([(1, [255, 255, 0, 0]), (51, [0, 0, 0, 100]), (58, [0, 0, 0, 10]), (59, [0, 0, 0, 20])]), acquired: 0)
        #expect(given.renewAt == 10 && given.rebindAt == 20 && given.address.length == 16)
        // T1 past T2 and T2 past the lease are pulled back; no lease time = the reference's hour.
        let odd = try DHCPLease(ack: ack([(1, [255, 0, 0, 0]), (51, [0, 0, 0, 100]), (58, [0, 0, 0, 90]), (59, [0, 0, 1, 0])]), acquired: 0)
        #expect(odd.rebindAt == 100 && odd.renewAt == 90)
        #expect(try DHCPLease(ack: ack([(1, [255, 255, 255, 0])]), acquired: 0).expiresAt == 3600)
        let infinite = try DHCPLease(ack: ack([(1, [255, 255, 255, 0]), (51, [255, 255, 255, 255])]), acquired: 0)
        #expect(infinite.isInfinite && infinite.expiresAt == .infinity)
    }

    @Test func refusesAnAckItCannotUse() {
        #expect(throws: DHCPLease.Problem.noSubnetMask) { try DHCPLease(ack: ack([]), acquired: 0) }
        #expect(throws: DHCPLease.Problem.badSubnetMask) { try DHCPLease(ack: ack([(1, [255, 0, 255, 0])]), acquired: 0) }
        #expect(throws: DHCPLease.Problem.badSubnetMask) { try DHCPLease(ack: ack([(1, [255, 0])]), acquired: 0) }
        #expect(throws: DHCPLease.Problem.noAddress) { try DHCPLease(ack: ack([(1, [255, 255, 255, 0])], yiaddr: "0.0.0.0"), acquired: 0) }
    }

    @Test func classlessRoutesWinOverRouterAndStaticRoutes() throws {
        let routes = DHCPOption.encodeClasslessRoutes([(IPPrefix("192.168.9.0/24")!, IPAddress("10.1.2.254")!),
                                                       (IPPrefix("10.9.0.0/16")!, IPAddress("0.0.0.0")!)])
        let l = try DHCPLease(ack: ack([(1, [255, 255, 255, 0]), (3, [10, 1, 2, 1]), (121, routes), (33, [172, 16, 0, 0, 10, 1, 2, 9])]),
                              acquired: 0)
        let r = l.result(priority: 42)
        #expect(r.ips == [CNIResult.IPConfig(address: IPPrefix("10.1.2.50/24")!, gateway: IPAddress("10.1.2.1"))])
        #expect(r.routes == [CNIResult.Route(dst: IPPrefix("192.168.9.0/24")!, gw: IPAddress("10.1.2.254"), priority: 42),
                             CNIResult.Route(dst: IPPrefix("10.9.0.0/16")!, gw: nil, priority: 42)])
    }

    @Test func withoutClasslessRoutesStaticRoutesAreClassfulAndTheRouterIsDefault() throws {
        let l = try DHCPLease(ack: ack([(1, [255, 255, 255, 0]), (3, [10, 1, 2, 1, 10, 1, 2, 2]),
                                        (33, [172, 16, 5, 0, 10, 1, 2, 9, 192, 168, 7, 1, 10, 1, 2, 8, 12, 3, 4, 5, 10, 1, 2, 7]),
                                        (6, [10, 0, 0, 53]), (15, Array("example.org".utf8))]), acquired: 0)
        let r = l.result()
        #expect(r.routes.map(\.dst.description) == ["172.16.0.0/16", "192.168.7.0/24", "12.0.0.0/8", "0.0.0.0/0"])
        #expect(r.routes.last?.gw == IPAddress("10.1.2.1"))
        #expect(r.dns.nameservers == ["10.0.0.53"] && r.dns.domain == "example.org")
        // No router: no default route.
        #expect(try DHCPLease(ack: ack([(1, [255, 255, 255, 0])]), acquired: 0).result().routes.isEmpty)
    }
}

@Suite struct DHCPClientMessagesTests {
    let mac: [UInt8] = [2, 0, 0, 0, 0, 1]

    func client(provided: [(code: UInt8, value: [UInt8])] = [], broadcast: Bool = false) -> DHCPClientMessages {
        DHCPClientMessages(mac: mac, clientID: "ctr1/net/eth0", hostName: "pod-a", parameterRequestList: [3, 1, 121],
                           provided: provided, broadcast: broadcast)
    }

    @Test func discoverCarriesIdentityNameAndRequestList() throws {
        let d = client(broadcast: true).discover(xid: 9)
        #expect(d.messageType == .discover && d.broadcast && d.chaddr == mac)
        #expect(d.option(61) == [0] + Array("ctr1/net/eth0".utf8))
        #expect(d.option(12) == Array("pod-a".utf8))
        #expect(d.option(55) == [3, 1, 121])
        #expect(d.option(50) == nil && d.option(54) == nil)
        // What a server reads off the wire is the same.
        #expect(DHCPMessage(decoding: d.encode()) == d)
    }

    @Test func theClientIDIsCutAt254AndAProvidedOneWins() {
        let long = DHCPClientMessages(mac: mac, clientID: String(repeating: "x", count: 400))
        #expect(long.clientID.count == 255 && long.clientID[0] == 0)
        let own = client(provided: [(61, Array("mine".utf8)), (12, Array("given".utf8)), (60, Array("vendor".utf8)), (53, [3])])
        let d = own.discover(xid: 1)
        #expect(d.option(61) == [0] + Array("mine".utf8))
        #expect(d.option(12) == Array("given".utf8))               // a provided host name replaces the pod's
        #expect(d.option(60) == Array("vendor".utf8))
        #expect(d.messageType == .discover)                         // a provided 53 cannot change the message
        #expect(d.options.filter { $0.code == 12 }.count == 1)
    }

    @Test func requestsPerState() throws {
        var offer = DHCPMessage(op: .reply, xid: 5, chaddr: mac, options: [(53, [2]), (54, [10, 0, 0, 1])])
        offer.yiaddr = IPAddress("10.0.0.77")!
        let selecting = client(broadcast: true).request(selecting: offer, xid: 5)
        #expect(selecting.messageType == .request && selecting.option(50) == [10, 0, 0, 77] && selecting.option(54) == [10, 0, 0, 1])
        #expect(selecting.ciaddr.value == 0 && selecting.broadcast)

        let rebooting = client().request(rebooting: IPAddress("10.0.0.77")!, xid: 6)
        #expect(rebooting.option(50) == [10, 0, 0, 77] && rebooting.option(54) == nil && rebooting.ciaddr.value == 0)

        var ackMsg = offer
        ackMsg.options = [(53, [5]), (54, [10, 0, 0, 1]), (1, [255, 255, 255, 0])]
        let lease = try DHCPLease(ack: ackMsg, acquired: 0)
        let renewing = client(broadcast: true).request(extending: lease, xid: 7)
        #expect(renewing.ciaddr == IPAddress("10.0.0.77") && renewing.option(50) == nil && renewing.option(54) == nil)
        #expect(!renewing.broadcast)

        let release = client().release(lease, xid: 8)
        #expect(release.messageType == .release && release.ciaddr == IPAddress("10.0.0.77") && release.option(54) == [10, 0, 0, 1])
        #expect(release.option(61) == [0] + Array("ctr1/net/eth0".utf8))
    }

    @Test func acceptsOnlyRepliesToItsOwnTransaction() {
        let c = client()
        var reply = DHCPMessage(op: .reply, xid: 42, chaddr: mac, options: [(53, [2])])
        #expect(c.accepts(reply, xid: 42, [.offer]))
        #expect(!c.accepts(reply, xid: 43, [.offer]))                 // another transaction
        #expect(!c.accepts(reply, xid: 42, [.ack, .nak]))             // not what is awaited
        reply.chaddr = [2, 0, 0, 0, 0, 2]
        #expect(!c.accepts(reply, xid: 42, [.offer]))                 // another client's
        reply.chaddr = mac
        reply.options.append((61, [0] + Array("other/net/eth0".utf8)))
        #expect(!c.accepts(reply, xid: 42, [.offer]))                 // an echoed client ID not ours (RFC 6842)
        var request = DHCPMessage(op: .request, xid: 42, chaddr: mac, options: [(53, [2])])
        #expect(!c.accepts(request, xid: 42, [.offer]))               // our own broadcast heard back
        request.op = .reply
        request.options = []
        #expect(!c.accepts(request, xid: 42, [.offer]))               // no message type
    }

    @Test func retransmissionFollowsRFC2131() {
        #expect(Retransmission.delay(attempt: 0, cap: 62, jitter: 0) == 4)
        #expect(Retransmission.delay(attempt: 1, cap: 62, jitter: 0) == 8)
        #expect(Retransmission.delay(attempt: 4, cap: 62, jitter: 0) == 62)
        #expect(Retransmission.delay(attempt: 40, cap: 10, jitter: 0.5) == 10.5)
        #expect(Retransmission.delay(attempt: 0, cap: 62, jitter: -3) == 3)     // jitter is ±1 at most
        #expect(Retransmission.extendingDelay(now: 0, until: 1000) == 500)
        #expect(Retransmission.extendingDelay(now: 0, until: 100) == 60)        // not below a minute…
        #expect(Retransmission.extendingDelay(now: 0, until: 30) == 30)         // …unless less is left
        #expect(Retransmission.extendingDelay(now: 50, until: 30) == 0)
    }
}
