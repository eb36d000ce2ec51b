import CNI
import IPAddressing

/// `k8s.v1.cni.cncf.io/network-status` (NPWG spec §4.1.2.1.9): per attached network its name
/// ("ns/nad", or the master's conf name), interface, IPs without prefix length, MAC, MTU,
/// default, DNS, gateways and device-info (the NPWG device-info file of the delegate), as upstream
/// writes it.
enum NetworkStatus {
    static let annotation = "k8s.v1.cni.cncf.io/network-status"

    /// `isDefault`: the network holds the pod's default route (the master, unless a selection
    /// took it with `default-route`).
    static func entry(_ d: MultusDelegate, _ result: CNIResult, isDefault: Bool, deviceInfo: JSONValue? = nil) -> JSONValue {
        var o = JSONObject()
        o["name"] = .string(d.name)
        o["interface"] = .string(d.ifName)
        // The delegate's interface in the pod: by name, else the result's sandbox interface.
        let index = result.interfaces.firstIndex { $0.name == d.ifName && !$0.sandbox.isEmpty }
            ?? result.interfaces.firstIndex { !$0.sandbox.isEmpty }
        let ips = result.ips.filter { ip in index == nil || ip.interface == nil || ip.interface == index }
        if !ips.isEmpty { o["ips"] = .array(ips.map { .string($0.address.address.description) }) }
        if let i = index {
            let iface = result.interfaces[i]
            if !iface.mac.isEmpty { o["mac"] = .string(iface.mac) }
            if iface.mtu > 0 { o["mtu"] = .int(iface.mtu) }
        }
        o["default"] = .bool(isDefault)
        if !result.dns.isEmpty { o["dns"] = result.dns.json }
        if let deviceInfo { o["device-info"] = deviceInfo }
        let gateways = ips.compactMap(\.gateway)
        if !gateways.isEmpty { o["gateway"] = .array(gateways.map { .string($0.description) }) }
        return .object(o)
    }

    /// The annotation's value: the entries as an indented JSON list, as upstream prints it.
    static func value(_ entries: [JSONValue]) -> String {
        String(decoding: JSONValue.array(entries).prettyPrinted(), as: UTF8.self)
    }
}
