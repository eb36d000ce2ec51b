import CNI
import IPAddressing

/// static's configuration (plugins §2.7): `ipam.addresses` [{address (CIDR), gateway}],
/// `ipam.routes`, `ipam.dns`. CNI_ARGS `IP=cidr[,cidr…]` is appended and `GATEWAY=ip[,…]` sets
/// the gateway of the addresses containing it; then `args.cni.ips` replaces all addresses, and
/// `runtimeConfig.ips` (capability "ips") replaces them again, the highest priority.
public struct StaticConfig: Sendable {
    public struct Address: Sendable, Equatable {
        public var address: IPPrefix
        public var gateway: IPAddress?
    }

    public var addresses: [Address]
    public var routes: [CNIResult.Route]
    public var dns: DNS

    public static let argsKeys: [String] = ["IP", "GATEWAY"]

    public init(_ conf: NetConf, args: CNIArgs, version: CNIVersion) throws(CNIError) {
        guard let ipamObject = conf.ipam else { throw CNIError.invalidConfig("IPAM config missing 'ipam' key") }
        let ipam = JSONReader(.object(ipamObject), path: "ipam")
        routes = []
        for (i, r) in (try ipam.array("routes") ?? []).enumerated() {
            routes.append(try CNIResult.Route(reader: ipam.child("routes[\(i)]", r)))
        }
        dns = try DNS(reader: ipam.child("dns", ipam.raw("dns") ?? .null))

        func cidr(_ text: String) throws(CNIError) -> IPPrefix {
            let t = text.trimming(" \t")
            guard let p = IPPrefix(t) else { throw CNIError.invalidConfig("invalid CIDR \(t)", details: "addresses must be in CIDR notation") }
            return p
        }

        addresses = []
        for (i, a) in (try ipam.array("addresses") ?? []).enumerated() {
            let ar = ipam.child("addresses[\(i)]", a)
            try ar.requireObject()
            addresses.append(Address(address: try cidr(ar.requiredString("address")), gateway: try ar.address("gateway")))
        }
        if let ips = args["IP"], !ips.isEmpty {
            for item in ips.split(separator: ",") { addresses.append(Address(address: try cidr(String(item)), gateway: nil)) }
        }
        if let gws = args["GATEWAY"], !gws.isEmpty {
            for item in gws.split(separator: ",") {
                let t = item.trimming(" \t")
                guard let gw = IPAddress(t) else { throw CNIError.invalidConfig("invalid gateway address: \(t)") }
                for i in addresses.indices where addresses[i].address.contains(gw) { addresses[i].gateway = gw }
            }
        }
        if let ips = try JSONReader(.object(conf.argsCNI ?? JSONObject()), path: "args.cni").stringArray("ips"), !ips.isEmpty {
            addresses = []
            for ip in ips { addresses.append(Address(address: try cidr(ip), gateway: nil)) }
        }
        if let ips = try JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig").stringArray("ips"), !ips.isEmpty {
            addresses = []
            for ip in ips { addresses.append(Address(address: try cidr(ip), gateway: nil)) }
        }
        let v4 = addresses.filter { $0.address.family == .v4 }.count
        if !version.supportsMultipleIPs && (v4 > 1 || addresses.count - v4 > 1) {
            throw CNIError.invalidConfig("CNI version \(version.rawValue) does not support more than 1 address per family")
        }
    }
}
