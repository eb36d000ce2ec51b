import CNI
import CNIRuntime
import IPAddressing
import NetNS
import Netlink

/// `default-route` of a pod's network selection (NPWG spec §4.1.2.1.7): that network's
/// interface gets the pod's default route of the gateway's family, through the gateway, and the
/// other networks lose theirs — each family on its own (upstream filtered both when one was
/// asked: openshift/multus-cni#200). The cached results are changed to match, so CHECK agrees.
enum DefaultRoute {
    static func zero(_ f: IPAddress.Family) -> IPPrefix { f == .v4 ? IPPrefix("0.0.0.0/0")! : IPPrefix("::/0")! }

    /// In the pod: default routes of each family the delegates ask for go through their gateway.
    static func apply(_ delegates: [MultusDelegate], netns: String) throws {
        let wanted = delegates.flatMap { d in d.defaultRoute.map { (d.ifName, $0) } }
        guard !wanted.isEmpty else { return }
        let pod = try step("open netns \(netns)") { try NetworkNamespace(path: netns) }
        let socket = try step("open a netlink socket in \(netns)") { try pod.run { try NetlinkSocket() } }
        for (ifName, gw) in wanted {
            guard let link = try socket.link(named: ifName) else {
                throw CNIError(.systemFailure, "multus: default-route: no interface \(ifName) in the pod")
            }
            for r in try socket.defaultRoutes(family: gw.family) {
                try step("delete the default route via \(r.gateway.map { "\($0)" } ?? "-") (default-route to \(ifName))") {
                    try socket.deleteRoute(r)
                }
            }
            try step("add default route via \(gw) dev \(ifName)") {
                try socket.addRoute(Netlink.Route(destination: zero(gw.family), gateway: gw, linkIndex: link.index))
            }
        }
    }

    /// The results as the kernel now has them: default routes of a moved family only in the
    /// result of the network that took it.
    static func adjust(_ results: inout [CNIResult], _ delegates: [MultusDelegate]) {
        for (i, d) in delegates.enumerated() {
            for gw in d.defaultRoute {
                let any = zero(gw.family)
                for j in results.indices { results[j].routes.removeAll { $0.dst == any } }
                results[i].routes.append(CNIResult.Route(dst: any, gw: gw))
            }
        }
    }
}
