import CNI
import IPAddressing
import Netlink

/// The bridge plugin's decisions as plain values (STYLE habit 4), tested without root: which
/// gateways the result gets and the bridge side takes, which VLANs the pod's port carries, and
/// whether a port's VLANs are what the config asks for.
enum BridgePlan {
    /// The gateway of each address (the IPAM's, or the subnet's first address when `isGateway`)
    /// written into the result, and a default route through it per family when
    /// `isDefaultGateway` and the IPAM gave none. Returns the addresses the bridge side takes.
    static func gateways(_ result: inout CNIResult, _ conf: BridgeConfig) -> [IPPrefix] {
        var out: [IPPrefix] = []
        var defaultRoute: Set<IPAddress.Family> = []
        for i in result.ips.indices {
            let ip = result.ips[i].address
            if result.ips[i].gateway == nil && conf.isGateway {
                result.ips[i].gateway = ip.network.advanced(by: 1)
            }
            if conf.isDefaultGateway && !defaultRoute.contains(ip.family) {
                let any = IPPrefix(address: IPAddress(family: ip.family, value: 0), length: 0)!
                if !result.routes.contains(where: { $0.gw != nil && $0.dst == any }) {
                    result.routes.append(.init(dst: any, gw: result.ips[i].gateway))
                }
                defaultRoute.insert(ip.family)
            }
            if conf.isGateway, let gw = result.ips[i].gateway, let p = IPPrefix(address: gw, length: ip.length) {
                out.append(p)
            }
        }
        return out
    }

    /// The port's native VLAN: the access VLAN, else 1 (a trunk's untagged VLAN).
    static func nativeVLAN(vlan: Int, trunk: [UInt16]) -> UInt16 { UInt16(clamping: vlan != 0 ? vlan : 1) }

    /// What the pod's port carries: nothing without VLAN filtering; else the native VLAN as PVID,
    /// untagged, and the trunk's tagged VLANs folded into runs, in one request.
    static func portVLANs(vlan: Int, trunk: [UInt16]) -> [BridgeVLANRange] {
        guard vlan != 0 || !trunk.isEmpty else { return [] }
        let native = nativeVLAN(vlan: vlan, trunk: trunk)
        return [BridgeVLANRange(native...native, pvid: true, untagged: true)] + BridgeVLANRange.runs(trunk.filter { $0 != native })
    }

    /// CHECK: what is wrong with a port's VLANs (nil: as configured). Extra VLANs are fine.
    static func vlanProblem(port: String, vlan: Int, trunk: [UInt16], actual: [BridgeVLAN]) -> String? {
        guard vlan != 0 || !trunk.isEmpty else { return nil }
        let native = nativeVLAN(vlan: vlan, trunk: trunk)
        if !actual.contains(BridgeVLAN(id: native, pvid: true, untagged: true)) {
            return "bridge port \(port) does not have VLAN \(native) as PVID untagged"
        }
        if let missing = trunk.first(where: { id in id != native && !actual.contains { $0.id == id } }) {
            return "bridge port \(port) is missing trunk VLAN \(missing)"
        }
        return nil
    }
}
