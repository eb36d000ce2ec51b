/// A 48-bit Ethernet MAC address, printed lower-case with colons as Go's `net.HardwareAddr`.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" (either case).
    public init?(_ text: some StringProtocol) {
        let s = Array(String(text).utf8)
        guard s.count == 17 else { return nil }
        let sep = s[2]
        guard sep == UInt8(ascii: ":") || sep == UInt8(ascii: "-") else { return nil }
        var out: [UInt8] = []
        for i in 0..<6 {
            let o = i * 3
            if i > 0 && s[o - 1] != sep { return nil }
            guard let hi = IPAddress.hexValue(s[o]), let lo = IPAddress.hexValue(s[o + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        self.bytes = out
    }

    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    public var description: String {
        bytes.map { b in
            let h = String(b, radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined(separator: ":")
    }
}
