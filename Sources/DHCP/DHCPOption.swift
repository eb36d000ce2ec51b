import IPAddressing

/// Option codes (RFC 2132 and later) and what the client reads from a lease.
public enum DHCPOption {
    public static let subnetMask: UInt8 = 1
    public static let router: UInt8 = 3
    public static let domainNameServer: UInt8 = 6
    public static let hostName: UInt8 = 12
    public static let domainName: UInt8 = 15
    public static let broadcastAddress: UInt8 = 28
    public static let staticRoutes: UInt8 = 33
    public static let requestedIP: UInt8 = 50
    public static let leaseTime: UInt8 = 51
    public static let overload: UInt8 = 52
    public static let messageType: UInt8 = 53
    public static let serverIdentifier: UInt8 = 54
    public static let parameterRequestList: UInt8 = 55
    public static let renewalTime: UInt8 = 58
    public static let rebindingTime: UInt8 = 59
    public static let clientIdentifier: UInt8 = 61
    public static let domainSearch: UInt8 = 119
    public static let classlessStaticRoutes: UInt8 = 121

    /// The names the reference plugin's `request`/`provide` lists accept (its options.go), to
    /// codes; a number in the config is taken as the code itself.
    public static let byName: [String: UInt8] = [
        "subnet-mask": 1, "time-offset": 2, "routers": 3, "time-servers": 4, "domain-name-servers": 6,
        "host-name": 12, "domain-name": 15, "interface-mtu": 26, "broadcast-address": 28, "static-routes": 33,
        "ntp-servers": 42, "dhcp-requested-address": 50, "dhcp-lease-time": 51, "dhcp-message-type": 53,
        "dhcp-server-identifier": 54, "dhcp-parameter-request-list": 55, "dhcp-renewal-time": 58,
        "dhcp-rebinding-time": 59, "vendor-class-identifier": 60, "dhcp-client-identifier": 61,
        "user-class": 77, "domain-search": 119, "classless-static-routes": 121,
    ]

    /// A code from a config entry: a name of `byName` or a number 1–254.
    public static func code(_ text: String) -> UInt8? {
        if let c = byName[text.lowercased()] { return c }
        guard let n = UInt8(text), n > 0, n < 255 else { return nil }
        return n
    }

    /// Addresses from a multiple-of-4 value (routers, DNS servers); nil when the length is wrong.
    public static func addresses(_ v: [UInt8]) -> [IPAddress]? {
        guard !v.isEmpty, v.count % 4 == 0 else { return nil }
        return stride(from: 0, to: v.count, by: 4).map { i in
            IPAddress(family: .v4, value: UInt128(v[i..<(i + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }))
        }
    }

    public static func uint32(_ v: [UInt8]) -> UInt32? {
        v.count == 4 ? v.reduce(0) { $0 << 8 | UInt32($1) } : nil
    }

    /// Option 121 (RFC 3442): (destination prefix, router) pairs; each destination carries only
    /// the significant octets of its prefix. nil when malformed (the RFC: then ignore it all).
    public static func classlessRoutes(_ v: [UInt8]) -> [(IPPrefix, IPAddress)]? {
        var out: [(IPPrefix, IPAddress)] = []
        var i = 0
        while i < v.count {
            let width = Int(v[i])
            guard width <= 32 else { return nil }
            let octets = (width + 7) / 8
            guard i + 1 + octets + 4 <= v.count else { return nil }
            var dst: UInt32 = 0
            for k in 0..<4 { dst = dst << 8 | (k < octets ? UInt32(v[i + 1 + k]) : 0) }
            let gw = v[(i + 1 + octets)..<(i + 1 + octets + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard let prefix = IPPrefix(address: IPAddress(family: .v4, value: UInt128(dst)), length: width) else { return nil }
            out.append((prefix.masked, IPAddress(family: .v4, value: UInt128(gw))))
            i += 1 + octets + 4
        }
        return out
    }

    /// Option 121's encoding (for tests and a server stand-in).
    public static func encodeClasslessRoutes(_ routes: [(IPPrefix, IPAddress)]) -> [UInt8] {
        var out: [UInt8] = []
        for (p, gw) in routes {
            let bytes = p.network.bytes
            out.append(UInt8(p.length))
            out += bytes.prefix((p.length + 7) / 8)
            out += gw.bytes
        }
        return out
    }
}
