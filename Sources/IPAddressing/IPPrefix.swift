/// An address with a prefix length, as in "10.1.0.5/16". The address keeps its host bits, as
/// CNI results do (Go's `types.IPNet`); `network` gives the masked form.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.family.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses CIDR notation "a.b.c.d/n" or "x::y/n".
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard let slash = s.lastIndex(of: "/"),
              let addr = IPAddress(s[..<slash]) else { return nil }
        let lenText = s[s.index(after: slash)...]
        guard !lenText.isEmpty, lenText.count <= 3, lenText.allSatisfy(\.isASCII),
              let len = Int(lenText), !(lenText.count > 1 && lenText.first == "0") else { return nil }
        self.init(address: addr, length: len)
    }

    public var family: IPAddress.Family { address.family }

    /// The mask as a number of the family's width.
    public var mask: UInt128 {
        let width = family.bitWidth
        if length == 0 { return 0 }
        let ones: UInt128 = length == 128 ? .max : ((UInt128(1) << UInt128(length)) - 1)
        return ones << UInt128(width - length)
    }

    /// The first address of the prefix (host bits cleared).
    public var network: IPAddress { IPAddress(family: family, value: address.value & mask) }

    /// The last address of the prefix (all host bits set; the broadcast for v4).
    public var last: IPAddress { IPAddress(family: family, value: (address.value & mask) | (~mask & address.familyMax)) }

    /// This prefix with host bits cleared.
    public var masked: IPPrefix { IPPrefix(address: network, length: length)! }

    public var hasHostBits: Bool { address.value & ~mask & address.familyMax != 0 }

    public func contains(_ ip: IPAddress) -> Bool {
        ip.family == family && ip.value & mask == address.value & mask
    }

    /// True when the two prefixes share any address.
    public func overlaps(_ other: IPPrefix) -> Bool {
        family == other.family && (contains(other.network) || other.contains(network))
    }

    /// The dotted (v4) or hex (v6) netmask, as `ip` and Go's IPNet.Mask print it.
    public var netmask: IPAddress { IPAddress(family: family, value: mask) }

    public var description: String { "\(address)/\(length)" }
}
