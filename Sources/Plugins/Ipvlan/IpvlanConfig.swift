import CNI
import Netlink

/// ipvlan's configuration (plugins §2.2): `master`, `mode` (l2 | l3 | l3s, default l2), `mtu`,
/// `linkInContainer`, `ipam` (left out when chained: the addresses come from prevResult).
public struct IpvlanConfig: Sendable {
    public var master: String?
    public var mode: IpvlanMode
    public var mtu: Int
    public var linkInContainer: Bool
    public var ipamType: String?
    public var dns: DNS

    public init(_ conf: NetConf) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        master = try r.string("master").flatMap { $0.isEmpty ? nil : $0 }
        if let m = master { try Names.validateInterfaceName(m, code: .invalidNetworkConfig, what: "master") }
        let modeText = try r.string("mode") ?? ""
        if modeText.isEmpty {
            mode = .l2
        } else {
            guard let m = IpvlanMode(rawValue: modeText) else { throw CNIError.invalidConfig("unknown ipvlan mode: \(modeText)") }
            mode = m
        }
        mtu = Int(try r.uint32("mtu") ?? 0)
        linkInContainer = try r.bool("linkInContainer") ?? false
        ipamType = conf.ipamType
        dns = conf.dns
    }
}
