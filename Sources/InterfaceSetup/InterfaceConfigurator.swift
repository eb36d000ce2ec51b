import CNI
import Glibc
import IPAddressing
import LinuxSystem
import NetNS
import Netlink

/// Applies a result's addresses and routes to one interface inside a namespace, as the
/// reference's `ipam.ConfigureIface`: IPv6 sysctls, addresses, link up, DAD settled when a v6
/// gateway is present, then routes with the gateway fallback.
public struct InterfaceConfigurator {
    public let namespace: NetworkNamespace
    /// A socket opened inside `namespace`.
    public let socket: NetlinkSocket

    public init(namespace: NetworkNamespace, socket: NetlinkSocket) { (self.namespace, self.socket) = (namespace, socket) }

    /// The result's addresses that belong to `ifName` (by `interface` index).
    public static func addresses(of ifName: String, in result: CNIResult) throws(CNIError) -> [CNIResult.IPConfig] {
        var out: [CNIResult.IPConfig] = []
        for ip in result.ips {
            guard let idx = ip.interface else { continue }
            guard idx >= 0, idx < result.interfaces.count else {
                throw CNIError(.invalidNetworkConfig, "failed to add IP addr \(ip.address) to \"\(ifName)\": invalid interface index")
            }
            if result.interfaces[idx].name == ifName { out.append(ip) }
        }
        return out
    }

    public func configure(_ link: Link, _ result: CNIResult) throws {
        let ifName = link.name
        let ips = try Self.addresses(of: ifName, in: result)
        if ips.contains(where: { $0.address.family == .v6 }) {
            try step("enable IPv6 on \"\(ifName)\"") {
                try namespace.run {
                    for dev in ["lo", ifName] { try Sysctl.set("net/ipv6/conf/\(dev)/disable_ipv6", "0") }
                    try Sysctl.set("net/ipv6/conf/\(ifName)/keep_addr_on_down", "1")
                }
            }
        }
        for ip in ips {
            try step("add IP addr \(ip.address) to \"\(ifName)\"") { try socket.addAddress(index: link.index, ip.address) }
        }
        try step("set \"\(ifName)\" UP") { try socket.setLink(index: link.index, .init(up: true)) }
        if ips.contains(where: { $0.address.family == .v6 && $0.gateway != nil }) {
            try settleAddresses(link.index, ifName: ifName)
        }
        for r in result.routes {
            let gw = r.gateway(fallingBackTo: ips)
            try step("add route \(r.dst) via \(gw.map { "\($0)" } ?? "-") dev \(ifName)") {
                try socket.addRoute(r.kernelRoute(linkIndex: link.index, gateway: gw), exclusive: false)
            }
        }
    }

    /// Waits (at most 5 s) until no address of the link is tentative; fails on DAD failure.
    public func settleAddresses(_ index: Int32, ifName: String, timeout: Double = 5) throws {
        var waited = 0.0
        while true {
            let addrs = try socket.addresses(index: index).filter { $0.prefix.family == .v6 }
            if let failed = addrs.first(where: \.dadFailed) {
                throw CNIError(.systemFailure, "\(failed.prefix) on \(ifName) failed duplicate address detection")
            }
            if !addrs.contains(where: \.isTentative) { return }
            if waited >= timeout {
                throw CNIError(.tryAgainLater, "addresses on \(ifName) still tentative after \(Int(timeout)) s")
            }
            usleep(50_000)
            waited += 0.05
        }
    }
}
