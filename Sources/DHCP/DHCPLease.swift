import CNI
import IPAddressing

/// A lease: the server's ACK and when it arrived. Everything else (address, mask, routers,
/// times) is read from the ACK, so persisting a lease is persisting these two values.
public struct DHCPLease: Sendable, Equatable {
    public let ack: DHCPMessage
    /// When the ACK arrived, in seconds since the epoch (leases outlive daemon restarts, so not
    /// a monotonic clock).
    public let acquired: Double

    /// Why an ACK cannot be used as a lease.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case noAddress, noSubnetMask, badSubnetMask
        public var description: String {
            switch self {
            case .noAddress: return "the DHCP ACK carries no address (yiaddr 0.0.0.0)"
            case .noSubnetMask: return "the DHCP server sent no subnet mask (option 1)"
            case .badSubnetMask: return "the DHCP server's subnet mask (option 1) is not a prefix"
            }
        }
    }

    public let address: IPPrefix

    /// Default when the server names no lease time (the reference's: 60 minutes).
    public static let defaultLeaseTime: UInt32 = 3600

    public init(ack: DHCPMessage, acquired: Double) throws(Problem) {
        guard ack.yiaddr.value != 0 else { throw .noAddress }
        guard let m = ack.option(DHCPOption.subnetMask) else { throw .noSubnetMask }
        guard let mask = DHCPOption.uint32(m), let length = Self.prefixLength(mask),
              let prefix = IPPrefix(address: ack.yiaddr, length: length) else { throw .badSubnetMask }
        (self.ack, self.acquired, self.address) = (ack, acquired, prefix)
    }

    static func prefixLength(_ mask: UInt32) -> Int? {
        let ones = mask.nonzeroBitCount
        return mask == (ones == 0 ? 0 : UInt32.max << (32 - ones)) ? ones : nil
    }

    public var server: IPAddress? { ack.option(DHCPOption.serverIdentifier).flatMap(DHCPOption.addresses)?.first }
    public var routers: [IPAddress] { ack.option(DHCPOption.router).flatMap(DHCPOption.addresses) ?? [] }
    public var leaseTime: UInt32 { ack.option(DHCPOption.leaseTime).flatMap(DHCPOption.uint32) ?? Self.defaultLeaseTime }
    /// An infinite lease (0xffffffff) is never renewed.
    public var isInfinite: Bool { leaseTime == UInt32.max }

    /// T1 (option 58, else half the lease), T2 (option 59, else 7/8 of it: RFC 2131 §4.4.5),
    /// expiry: seconds since the epoch. A T1 past T2 or T2 past the lease is pulled back.
    public var renewAt: Double { acquired + min(t1, t2) }
    public var rebindAt: Double { acquired + t2 }
    public var expiresAt: Double { isInfinite ? .infinity : acquired + Double(leaseTime) }

    var t2: Double {
        let lease = Double(leaseTime)
        let given = ack.option(DHCPOption.rebindingTime).flatMap(DHCPOption.uint32).map(Double.init)
        return min(given ?? lease * 0.875, lease)
    }
    var t1: Double {
        ack.option(DHCPOption.renewalTime).flatMap(DHCPOption.uint32).map(Double.init) ?? Double(leaseTime) * 0.5
    }

    /// Option 33's destinations are classful (RFC 2132 §5.8; the reference reads them so).
    static func classfulLength(_ a: IPAddress) -> Int {
        let first = UInt8(truncatingIfNeeded: a.value >> 24)
        return first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32
    }

    /// The IPAM result, as the reference builds it: the address with the first router as its
    /// gateway; routes from option 121 when the server sent it (a 0.0.0.0 router is an on-link
    /// route), else option 33's routes plus a default route via the first router. `priority`
    /// is every route's metric. DNS servers (6) and domain (15) when sent.
    public func result(priority: Int = 0) -> CNIResult {
        var r = CNIResult(ips: [CNIResult.IPConfig(address: address, gateway: routers.first)])
        if let v = ack.option(DHCPOption.classlessStaticRoutes), let routes = DHCPOption.classlessRoutes(v) {
            r.routes = routes.map { dst, gw in CNIResult.Route(dst: dst, gw: gw.value == 0 ? nil : gw, priority: priority) }
        } else {
            if let v = ack.option(DHCPOption.staticRoutes), v.count % 8 == 0, let a = DHCPOption.addresses(v) {
                for i in stride(from: 0, to: a.count, by: 2) {
                    if a[i].value != 0, let dst = IPPrefix(address: a[i], length: Self.classfulLength(a[i]))?.masked {
                        r.routes.append(CNIResult.Route(dst: dst, gw: a[i + 1], priority: priority))
                    }
                }
            }
            if let gw = routers.first, let any = IPPrefix("0.0.0.0/0") {
                r.routes.append(CNIResult.Route(dst: any, gw: gw, priority: priority))
            }
        }
        if let dns = ack.option(DHCPOption.domainNameServer).flatMap(DHCPOption.addresses) {
            r.dns.nameservers = dns.map(\.description)
        }
        if let d = ack.option(DHCPOption.domainName), !d.isEmpty {
            r.dns.domain = String(decoding: d.prefix { $0 != 0 }, as: UTF8.self)
        }
        return r
    }
}
