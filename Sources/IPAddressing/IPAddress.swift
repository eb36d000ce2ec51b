/// An IPv4 or IPv6 address as one 128-bit number, with the text forms Go's `net.IP` uses
/// (dotted quad; RFC 5952 for v6), so results and store file names match the reference byte for byte.
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Family: Sendable, Hashable {
        case v4, v6

        public var bitWidth: Int { self == .v4 ? 32 : 128 }
        /// The "version" string of 0.3.x/0.4.0 results.
        public var versionString: String { self == .v4 ? "4" : "6" }
    }

    public let family: Family
    /// The address; an IPv4 address uses the low 32 bits.
    public let value: UInt128

    public init(family: Family, value: UInt128) {
        self.family = family
        self.value = family == .v4 ? value & 0xFFFF_FFFF : value
    }

    /// Parses "10.1.2.3" or "2001:db8::1" (also "::ffff:1.2.3.4"); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if s.contains(":") {
            guard let v = IPAddress.parseV6(Array(s.utf8)) else { return nil }
            self.init(family: .v6, value: v)
        } else {
            guard let v = IPAddress.parseV4(Array(s.utf8)[...]) else { return nil }
            self.init(family: .v4, value: UInt128(v))
        }
    }

    /// Parses the text's UTF-8 bytes (a file name read from a directory) without making a String.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        if bytes.contains(UInt8(ascii: ":")) {
            guard let v = IPAddress.parseV6(Array(bytes)) else { return nil }
            self.init(family: .v6, value: v)
        } else {
            // Dotted quad, no allocation: exactly four decimal octets, no leading zeros (as parseV4).
            var value: UInt32 = 0, cur: UInt32 = 0, digits = 0, parts = 0
            for c in bytes {
                if c == UInt8(ascii: ".") {
                    guard digits > 0, parts < 3 else { return nil }
                    value = value << 8 | cur
                    (cur, digits, parts) = (0, 0, parts + 1)
                } else if c >= 48 && c <= 57 {
                    if digits == 1 && cur == 0 { return nil }
                    cur = cur * 10 + UInt32(c - 48)
                    digits += 1
                    guard cur <= 255 else { return nil }
                } else {
                    return nil
                }
            }
            guard digits > 0, parts == 3 else { return nil }
            self.init(family: .v4, value: UInt128(value << 8 | cur))
        }
    }

    /// Network-order bytes: 4 for v4, 16 for v6.
    public var bytes: [UInt8] {
        let n = family == .v4 ? 4 : 16
        return (0..<n).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * (n - 1 - $0))) }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var v: UInt128 = 0
        for b in bytes { v = v << 8 | UInt128(b) }
        self.init(family: bytes.count == 4 ? .v4 : .v6, value: v)
    }

    /// The largest value this family holds.
    public var familyMax: UInt128 { family == .v4 ? 0xFFFF_FFFF : UInt128.max }

    /// `self + n`, or nil past the end of the family's space.
    public func advanced(by n: UInt128) -> IPAddress? {
        let (sum, overflow) = value.addingReportingOverflow(n)
        guard !overflow, sum <= familyMax else { return nil }
        return IPAddress(family: family, value: sum)
    }

    /// `self - n`, or nil below zero.
    public func retreated(by n: UInt128) -> IPAddress? {
        guard value >= n else { return nil }
        return IPAddress(family: family, value: value - n)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.family == b.family ? a.value < b.value : a.family == .v4
    }

    public var description: String {
        switch family {
        case .v4: return IPAddress.formatV4(UInt32(truncatingIfNeeded: value))
        case .v6: return IPAddress.formatV6(value)
        }
    }
}

extension IPAddress {
    static func parseV4(_ s: ArraySlice<UInt8>) -> UInt32? {
        var parts: [UInt32] = []
        var cur: UInt32 = 0
        var digits = 0
        for c in s {
            if c == UInt8(ascii: ".") {
                guard digits > 0 else { return nil }
                parts.append(cur); cur = 0; digits = 0
            } else if c >= 48 && c <= 57 {
                // Go rejects leading zeros ("010") as ambiguous octal.
                if digits == 1 && cur == 0 { return nil }
                cur = cur * 10 + UInt32(c - 48); digits += 1
                guard cur <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0 else { return nil }
        parts.append(cur)
        guard parts.count == 4 else { return nil }
        return parts.reduce(0) { $0 << 8 | $1 }
    }

    static func parseV6(_ s: [UInt8]) -> UInt128? {
        var groups: [UInt16] = []
        var gapAt: Int? = nil
        var i = 0
        if s.starts(with: [58, 58]) { gapAt = 0; i = 2; if i == s.count { return 0 } }
        while i < s.count {
            // Embedded IPv4 in the last 32 bits.
            var j = i
            while j < s.count && s[j] != 58 { j += 1 }
            let token = s[i..<j]
            if token.contains(46) {
                guard j == s.count, let v4 = parseV4(token) else { return nil }
                groups.append(UInt16(v4 >> 16)); groups.append(UInt16(v4 & 0xFFFF))
                i = j
                break
            }
            guard !token.isEmpty, token.count <= 4 else { return nil }
            var g: UInt16 = 0
            for c in token {
                guard let d = hexValue(c) else { return nil }
                g = g << 4 | UInt16(d)
            }
            groups.append(g)
            i = j
            if i < s.count {
                // At a ':'.
                if i + 1 < s.count && s[i + 1] == 58 {
                    guard gapAt == nil else { return nil }
                    gapAt = groups.count
                    i += 2
                } else {
                    i += 1
                    guard i < s.count else { return nil }
                }
            }
        }
        if let gap = gapAt {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: Array(repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    static func formatV4(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
    }

    static func formatV6(_ v: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: v >> UInt128(16 * (7 - $0))) }
        // IPv4-mapped: ::ffff:a.b.c.d (as Go prints a 16-byte address it cannot shorten).
        if v >> 32 == 0xFFFF {
            return "::ffff:" + formatV4(UInt32(truncatingIfNeeded: v))
        }
        // Longest run of two or more zero groups, the first one on ties (RFC 5952).
        var bestStart = -1, bestLen = 1
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ g: UInt16) -> String { String(g, radix: 16) }
        if bestStart < 0 { return groups.map(hex).joined(separator: ":") }
        let head = groups[..<bestStart].map(hex).joined(separator: ":")
        let tail = groups[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return head + "::" + tail
    }
}
