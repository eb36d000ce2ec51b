import IPAddressing

/// A UDP datagram over IPv4 as the DHCP client sends and receives it on a packet socket, before
/// the interface has an address (RFC 2131 §4.1: source 0.0.0.0, destination 255.255.255.255).
/// Pure: `ipv4Packet()` builds the IP and UDP headers with their checksums; `init?(ipv4Packet:)`
/// refuses anything that is not one whole, well-formed UDP/IPv4 packet.
public struct UDPDatagram: Sendable, Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payload: [UInt8]

    public static let clientPort: UInt16 = 68
    public static let serverPort: UInt16 = 67

    public init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) {
        (self.source, self.destination, self.sourcePort, self.destinationPort, self.payload) =
            (source, destination, sourcePort, destinationPort, payload)
    }

    /// IPv4 header (20 bytes, DF set, TTL 64) + UDP header + payload.
    public func ipv4Packet(identification: UInt16 = 0) -> [UInt8] {
        let udpLength = 8 + payload.count
        let total = 20 + udpLength
        var p = [UInt8](repeating: 0, count: 20)
        p[0] = 0x45
        put16(&p, 2, UInt16(truncatingIfNeeded: total))
        put16(&p, 4, identification)
        p[6] = 0x40  // don't fragment
        p[8] = 64
        p[9] = 17
        p.replaceSubrange(12..<16, with: source.bytes)
        p.replaceSubrange(16..<20, with: destination.bytes)
        put16(&p, 10, Self.checksum(p[0..<20]))
        var udp = [UInt8](repeating: 0, count: 8)
        put16(&udp, 0, sourcePort)
        put16(&udp, 2, destinationPort)
        put16(&udp, 4, UInt16(truncatingIfNeeded: udpLength))
        udp += payload
        var pseudo = source.bytes + destination.bytes + [0, 17]
        pseudo += [UInt8(truncatingIfNeeded: udpLength >> 8), UInt8(truncatingIfNeeded: udpLength)]
        var sum = Self.checksum((pseudo + udp)[...])
        if sum == 0 { sum = 0xFFFF }  // 0 means "no checksum" in UDP
        put16(&udp, 6, sum)
        return p + udp
    }

    /// nil unless: IPv4, a valid header checksum, UDP, not a fragment, lengths consistent. The
    /// UDP checksum is not verified: on veth and macvlan a packet socket sees locally generated
    /// packets before the checksum is filled in (CHECKSUM_PARTIAL), as udhcpc and dhclient note.
    public init?(ipv4Packet b: [UInt8]) {
        guard b.count >= 28, b[0] >> 4 == 4 else { return nil }
        let ihl = Int(b[0] & 0x0F) * 4
        guard ihl >= 20, b.count >= ihl + 8, b[9] == 17 else { return nil }
        let total = Int(b[2]) << 8 | Int(b[3])
        guard total >= ihl + 8, total <= b.count else { return nil }
        // More-fragments flag or a fragment offset: not a whole datagram.
        guard b[6] & 0x20 == 0, (Int(b[6] & 0x1F) << 8 | Int(b[7])) == 0 else { return nil }
        guard Self.checksum(b[0..<ihl]) == 0 else { return nil }
        let udpLength = Int(b[ihl + 4]) << 8 | Int(b[ihl + 5])
        guard udpLength >= 8, ihl + udpLength <= total else { return nil }
        guard let src = IPAddress(bytes: Array(b[12..<16])), let dst = IPAddress(bytes: Array(b[16..<20])) else { return nil }
        (source, destination) = (src, dst)
        sourcePort = UInt16(b[ihl]) << 8 | UInt16(b[ihl + 1])
        destinationPort = UInt16(b[ihl + 2]) << 8 | UInt16(b[ihl + 3])
        payload = Array(b[(ihl + 8)..<(ihl + udpLength)])
    }

    /// The Internet checksum (RFC 1071) of the bytes: 0 over a header that carries a correct one.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var sum: UInt32 = 0
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.endIndex { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    private func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(v & 0xFF) }
}
