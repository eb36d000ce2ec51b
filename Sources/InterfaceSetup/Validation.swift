import CNI
import IPAddressing
import Netlink

/// CHECK helpers: what a result says against what the kernel holds.
public enum Validation {
    /// Every address of the result that belongs to the link is on it.
    public static func addresses(_ expected: [CNIResult.IPConfig], on link: Link, actual: [LinkAddress]) throws(CNIError) {
        for ip in expected where !actual.contains(where: { $0.index == link.index && $0.prefix == ip.address }) {
            throw CNIError(.invalidNetworkConfig, "Failed to find ip \(ip.address) for \(link.name)")
        }
    }

    /// Every route of the result exists in its table through the link, with the result's gateway
    /// (or the fallback one). Routes the kernel has besides are fine: later plugins may add some.
    public static func routes(_ expected: [CNIResult.Route], ips: [CNIResult.IPConfig], link: Link,
                              actual: [Netlink.Route]) throws(CNIError) {
        for r in expected {
            let gw = r.gateway(fallingBackTo: ips)
            let table = r.kernelRoute(linkIndex: link.index, gateway: gw).table
            let found = actual.contains { k in
                k.destination == r.dst.masked && k.table == table
                    && (k.multipath.isEmpty ? (k.gateway == gw && k.linkIndex == link.index)
                                            : k.multipath.contains { $0.gateway == gw && $0.linkIndex == link.index })
            }
            if !found {
                throw CNIError(.invalidNetworkConfig,
                               "Expected Route {dst: \(r.dst.masked), gw: \(gw.map { "\($0)" } ?? "-"), table \(table)} not found on \(link.name)")
            }
        }
    }
}
