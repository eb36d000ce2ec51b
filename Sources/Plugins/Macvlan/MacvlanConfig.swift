import CNI
import IPAddressing
import Netlink

/// macvlan's configuration (plugins §2.1): `master`, `mode`, `mtu`, `mac`, `linkInContainer`,
/// `bcqueuelen`, `ipam`; the MAC also from CNI_ARGS `MAC=` and then `runtimeConfig.mac`
/// (each later source wins).
public struct MacvlanConfig: Sendable {
    public var master: String?
    public var mode: MacvlanMode
    public var mtu: Int
    public var mac: MACAddress?
    public var linkInContainer: Bool
    public var broadcastQueueLength: UInt32?
    /// The IPAM plugin's type; nil for an L2-only attachment.
    public var ipamType: String?
    public var dns: DNS

    public static let argsKeys: [String] = ["MAC"]

    public init(_ conf: NetConf, args: CNIArgs) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        master = try r.string("master").flatMap { $0.isEmpty ? nil : $0 }
        if let m = master { try Names.validateInterfaceName(m, code: .invalidNetworkConfig, what: "master") }
        let modeText = try r.string("mode") ?? ""
        if modeText.isEmpty {
            mode = .bridge
        } else {
            guard let m = MacvlanMode(rawValue: modeText) else {
                throw CNIError.invalidConfig("unknown macvlan mode: \(modeText)")
            }
            mode = m
        }
        mtu = Int(try r.uint32("mtu") ?? 0)
        linkInContainer = try r.bool("linkInContainer") ?? false
        broadcastQueueLength = try r.uint32("bcqueuelen")
        func mac(_ text: String, _ source: String) throws(CNIError) -> MACAddress {
            guard let m = MACAddress(text), !m.isMulticast else {
                throw CNIError.invalidConfig("invalid MAC address \"\(text)\" (\(source))")
            }
            return m
        }
        if let t = try r.string("mac"), !t.isEmpty { self.mac = try mac(t, "mac") }
        if let t = args["MAC"], !t.isEmpty { self.mac = try mac(t, "CNI_ARGS MAC") }
        if let t = try JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig").string("mac"), !t.isEmpty {
            self.mac = try mac(t, "runtimeConfig.mac")
        }
        ipamType = conf.ipamType
        dns = conf.dns
    }
}
