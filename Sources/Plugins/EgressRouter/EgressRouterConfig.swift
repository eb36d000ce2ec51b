import CNI
import IPAddressing
import Netlink

/// egress-router's configuration (meta-and-openshift-plugins §3), as openshift/egress-router-cni
/// reads it: `interfaceType` (macvlan, or ipvlan — upstream accepts it and makes a macvlan
/// anyway), `interfaceArgs` {`master` (default: the default-route link), `mode`, `mtu`}, `ip`
/// {`addresses` (CIDRs, one per family is used), `gateway`, `destinations`}; `podIP`, `ipConfig`,
/// `log_file`, `log_level` accepted.
public struct EgressRouterConfig: Sendable {
    public enum InterfaceType: String, Sendable { case macvlan, ipvlan }

    public var interfaceType: InterfaceType
    public var master: String?
    public var macvlanMode: MacvlanMode
    public var ipvlanMode: IpvlanMode
    public var mtu: UInt32
    /// The reserved source addresses, at most one per family.
    public var addresses: [IPPrefix]
    public var gateways: [IPAddress]
    public var destinations: [EgressDestination]
    public var dns: DNS

    public init(_ conf: NetConf) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        let type = try r.string("interfaceType") ?? ""
        guard let t = InterfaceType(rawValue: type.isEmpty ? "macvlan" : type.lowercased()) else {
            throw CNIError.invalidConfig("egress-router: unknown interfaceType \"\(type)\"", details: "macvlan or ipvlan")
        }
        interfaceType = t
        let args = r.child("interfaceArgs", r.raw("interfaceArgs") ?? .object(JSONObject()))
        try args.requireObject()
        master = try args.string("master").flatMap { $0.isEmpty ? nil : $0 }
        if let m = master { try Names.validateInterfaceName(m, code: .invalidNetworkConfig, what: "master") }
        let mode = try args.string("mode") ?? ""
        guard let mm = MacvlanMode(rawValue: t == .macvlan && !mode.isEmpty ? mode : "bridge"),
              let im = IpvlanMode(rawValue: t == .ipvlan && !mode.isEmpty ? mode : "l2") else {
            throw CNIError.invalidConfig("egress-router: unknown \(t.rawValue) mode \"\(mode)\"")
        }
        (macvlanMode, ipvlanMode) = (mm, im)
        mtu = try args.uint32("mtu") ?? 0
        let ip = r.child("ip", r.raw("ip") ?? .null)
        try ip.requireObject()
        addresses = []
        for (i, text) in (try ip.stringArray("addresses") ?? []).enumerated() {
            guard let p = IPPrefix(text) else { throw ip.fail("addresses[\(i)]", "\(text) is not an address in CIDR notation") }
            if !addresses.contains(where: { $0.family == p.family }) { addresses.append(p) }
        }
        if addresses.isEmpty { throw CNIError.invalidConfig("egress-router: ip.addresses must name the reserved source address") }
        gateways = []
        for g in try Self.gatewayTexts(ip) {
            guard let a = IPAddress(g) else { throw ip.fail("gateway", "invalid IP address \(g)") }
            gateways.append(a)
        }
        destinations = []
        for (i, d) in (try ip.stringArray("destinations") ?? []).enumerated() {
            destinations.append(try EgressDestination(parsing: d, index: i))
        }
        for d in destinations where !addresses.contains(where: { $0.family == d.address.family }) {
            throw CNIError.invalidConfig("egress-router: destination \(d.text) has no reserved address of its family")
        }
        if destinations.filter({ $0.isFallback }).count > addresses.count {
            throw CNIError.invalidConfig("egress-router: more than one fallback destination per family")
        }
        dns = conf.dns
    }

    /// `gateway`: one address (upstream), or a list (one per family).
    static func gatewayTexts(_ ip: JSONReader) throws(CNIError) -> [String] {
        if let a = ip.raw("gateway")?.arrayValue {
            return try a.enumerated().map { (i, v) throws(CNIError) in
                guard let s = v.stringValue else { throw ip.fail("gateway[\(i)]", "expected a string") }
                return s
            }
        }
        return (try ip.string("gateway")).map { [$0] } ?? []
    }

    public func gateway(for family: IPAddress.Family) -> IPAddress? { gateways.first { $0.family == family } }
}

/// One entry of `ip.destinations`: `<IP>` (everything else: the fallback), `<port> <proto> <IP>`
/// or `<port> <proto> <IP> <targetPort>`, proto tcp, udp or sctp; the IP may be a CIDR
/// (upstream's docs show `80 UDP 10.100.3.0/30`, which upstream fails on): connections are spread
/// over its addresses.
public struct EgressDestination: Sendable, Equatable {
    public enum Proto: String, Sendable { case tcp, udp, sctp }

    public var text: String
    public var port: UInt16?
    public var proto: Proto?
    public var address: IPPrefix
    public var targetPort: UInt16?

    public var isFallback: Bool { port == nil }

    public init(parsing text: String, index: Int) throws(CNIError) {
        self.text = text
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        func bad(_ why: String) -> CNIError {
            CNIError.invalidConfig("egress-router: invalid destination \"\(text)\" (ip.destinations[\(index)])", details: why)
        }
        func ip(_ s: String) throws(CNIError) -> IPPrefix {
            if let p = IPPrefix(s) { return p.masked }
            if let a = IPAddress(s) { return IPPrefix(address: a, length: a.family == .v4 ? 32 : 128)! }
            throw bad("\(s) is not an IP address or CIDR")
        }
        func portNumber(_ s: String, _ what: String) throws(CNIError) -> UInt16 {
            guard let v = UInt16(s), v > 0 else { throw bad("\(what) \(s) is not a port (1-65535)") }
            return v
        }
        switch f.count {
        case 1:
            address = try ip(f[0])
        case 3, 4:
            port = try portNumber(f[0], "port")
            guard let p = Proto(rawValue: f[1].lowercased()) else { throw bad("protocol \(f[1]) is not tcp, udp or sctp") }
            proto = p
            address = try ip(f[2])
            if f.count == 4 { targetPort = try portNumber(f[3], "target port") }
        default:
            throw bad("expected <IP>, <port> <proto> <IP> or <port> <proto> <IP> <targetPort>")
        }
    }
}
