import IPAddressing

/// A DHCPv4 message (RFC 2131 §2, options RFC 2132): the BOOTP fields the client uses and the
/// options as (code, bytes) in order. Pure: `encode()` and `init?(decoding:)` never trap on any
/// input (the decoder is fuzzed with the JSON parser's harness in mind: hostile bytes from the
/// pod's network).
public struct DHCPMessage: Sendable, Equatable {
    public enum Op: UInt8, Sendable { case request = 1, reply = 2 }

    /// Option 53.
    public enum MessageType: UInt8, Sendable, CaseIterable {
        case discover = 1, offer, request, decline, ack, nak, release, inform
    }

    public var op: Op
    public var xid: UInt32
    public var secs: UInt16 = 0
    /// Bit 15: the server is to broadcast its reply (the `-broadcast` flag of the daemon).
    public var broadcast = false
    public var ciaddr = IPAddress(family: .v4, value: 0)
    public var yiaddr = IPAddress(family: .v4, value: 0)
    public var siaddr = IPAddress(family: .v4, value: 0)
    public var giaddr = IPAddress(family: .v4, value: 0)
    /// The client's hardware address (Ethernet: 6 bytes).
    public var chaddr: [UInt8]
    /// Options in order, without pad and end; a code given twice is concatenated on decode (RFC 3396).
    public var options: [(code: UInt8, value: [UInt8])]

    public init(op: Op, xid: UInt32, chaddr: [UInt8], options: [(code: UInt8, value: [UInt8])] = []) {
        (self.op, self.xid, self.chaddr, self.options) = (op, xid, chaddr, options)
    }

    public static func == (a: DHCPMessage, b: DHCPMessage) -> Bool {
        a.op == b.op && a.xid == b.xid && a.secs == b.secs && a.broadcast == b.broadcast && a.ciaddr == b.ciaddr
            && a.yiaddr == b.yiaddr && a.siaddr == b.siaddr && a.giaddr == b.giaddr && a.chaddr == b.chaddr
            && a.options.map(\.code) == b.options.map(\.code) && a.options.map(\.value) == b.options.map(\.value)
    }

    public static let magicCookie: [UInt8] = [99, 130, 83, 99]
    static let fixedLength = 236

    public func option(_ code: UInt8) -> [UInt8]? { options.first { $0.code == code }?.value }

    public var messageType: MessageType? { option(DHCPOption.messageType).flatMap { $0.count == 1 ? MessageType(rawValue: $0[0]) : nil } }

    // MARK: encoding

    /// The wire form: the fixed header, the cookie, the options (long values split into
    /// 255-byte pieces, RFC 3396), end, padded to the BOOTP minimum of 300 bytes.
    public func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.fixedLength)
        b[0] = op.rawValue
        b[1] = 1  // Ethernet
        b[2] = UInt8(min(chaddr.count, 16))
        put32(&b, 4, xid)
        put16(&b, 8, secs)
        put16(&b, 10, broadcast ? 0x8000 : 0)
        put32(&b, 12, UInt32(truncatingIfNeeded: ciaddr.value))
        put32(&b, 16, UInt32(truncatingIfNeeded: yiaddr.value))
        put32(&b, 20, UInt32(truncatingIfNeeded: siaddr.value))
        put32(&b, 24, UInt32(truncatingIfNeeded: giaddr.value))
        for (i, byte) in chaddr.prefix(16).enumerated() { b[28 + i] = byte }
        b += Self.magicCookie
        for (code, value) in options where code != 0 && code != 255 {
            var rest = value[...]
            repeat {
                let piece = rest.prefix(255)
                b += [code, UInt8(piece.count)] + piece
                rest = rest.dropFirst(piece.count)
            } while !rest.isEmpty
        }
        b.append(255)
        if b.count < 300 { b += [UInt8](repeating: 0, count: 300 - b.count) }
        return b
    }

    func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(v & 0xFF) }
    func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { b[at + i] = UInt8((v >> (24 - 8 * UInt32(i))) & 0xFF) }
    }

    // MARK: decoding

    /// nil for anything that is not a well-formed BOOTP/DHCP message: short, no cookie, an
    /// option running past the end. Honours option overload (52): options continued in `file`
    /// and/or `sname`.
    public init?(decoding b: [UInt8]) {
        guard b.count >= Self.fixedLength + 4, Array(b[Self.fixedLength..<(Self.fixedLength + 4)]) == Self.magicCookie,
              let op = Op(rawValue: b[0]) else { return nil }
        func u32(_ at: Int) -> UInt32 { b[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        func ip(_ at: Int) -> IPAddress { IPAddress(family: .v4, value: UInt128(u32(at))) }
        self.op = op
        xid = u32(4)
        secs = UInt16(b[8]) << 8 | UInt16(b[9])
        broadcast = b[10] & 0x80 != 0
        (ciaddr, yiaddr, siaddr, giaddr) = (ip(12), ip(16), ip(20), ip(24))
        let hlen = Int(min(b[2], 16))
        chaddr = Array(b[28..<(28 + hlen)])
        var collected: [(code: UInt8, value: [UInt8])] = []
        guard Self.parseOptions(b[(Self.fixedLength + 4)...], into: &collected) else { return nil }
        // Option overload: 1 = file holds options, 2 = sname, 3 = both (file first).
        if let overload = collected.first(where: { $0.code == DHCPOption.overload })?.value.first {
            if overload & 1 != 0, !Self.parseOptions(b[108..<236], into: &collected) { return nil }
            if overload & 2 != 0, !Self.parseOptions(b[44..<108], into: &collected) { return nil }
        }
        // A code that appears more than once is one value, concatenated (RFC 3396).
        var merged: [(code: UInt8, value: [UInt8])] = []
        for o in collected {
            if let i = merged.firstIndex(where: { $0.code == o.code }) { merged[i].value += o.value } else { merged.append(o) }
        }
        options = merged
    }

    static func parseOptions(_ s: ArraySlice<UInt8>, into out: inout [(code: UInt8, value: [UInt8])]) -> Bool {
        var i = s.startIndex
        while i < s.endIndex {
            let code = s[i]
            if code == 0 { i += 1; continue }
            if code == 255 { return true }
            guard i + 1 < s.endIndex else { return false }
            let len = Int(s[i + 1])
            guard i + 2 + len <= s.endIndex else { return false }
            out.append((code, Array(s[(i + 2)..<(i + 2 + len)])))
            i += 2 + len
        }
        return true  // no end option: tolerated, as most clients do
    }
}
