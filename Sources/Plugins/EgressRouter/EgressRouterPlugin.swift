import CNI
import Firewall
import IPAddressing
import InterfaceSetup
import LinuxSystem
import NetNS
import Netlink
import PluginKit

/// egress-router (redirect mode): a macvlan (or ipvlan) of the node's network in the pod with a
/// reserved address, the pod's default route through the gateway on it, forwarding on, and
/// nftables in the pod that DNAT what reaches the pod to the configured destinations and SNAT it
/// to the reserved address. Unlike upstream, every error is a coded CNI error and undoes the ADD.
public struct EgressRouterPlugin: Plugin {
    public let about = "swift-cni egress-router: redirect NAT from a reserved source address"
    public init() {}

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try EgressRouterConfig(r.config)
        let nft = try NFT.locate()
        let pod = try PodAttachment(r)
        let host = try step("open a netlink socket") { try NetlinkSocket() }
        let master = try MasterLink.find(named: conf.master ?? MasterLink.defaultRouteInterface(host), socket: host, mtu: Int(conf.mtu))
        return try Rollback.run { rollback in
            let link = try pod.createLink(conf.interfaceType.rawValue, rollback: rollback) { name in
                let changes = NetlinkSocket.LinkChanges(name: name, mtu: conf.mtu > 0 ? conf.mtu : nil, namespaceFD: pod.namespace.fd)
                switch conf.interfaceType {
                case .macvlan: try host.createMacvlan(parentIndex: master.index, mode: conf.macvlanMode, changes)
                case .ipvlan: try host.createIpvlan(parentIndex: master.index, mode: conf.ipvlanMode, changes)
                }
            }
            try pod.enableNotify()
            try enableForwarding(pod, conf.addresses.map(\.family))
            var result = pod.result(for: link, dns: conf.dns)
            result.ips = conf.addresses.map { .init(address: $0, gateway: conf.gateway(for: $0.family), interface: 0) }
            // Addresses and the link up, then a host route to each gateway on the new link.
            try pod.configure(link, result)
            for gw in conf.gateways {
                let hostRoute = Netlink.Route(destination: IPPrefix(address: gw, length: gw.family == .v4 ? 32 : 128)!,
                                              linkIndex: link.index, scope: Netlink.Route.scopeLink)
                try step("add route \(gw) dev \(link.name)") { try pod.socket.addRoute(hostRoute, exclusive: false) }
                try moveDefaultRoute(pod.socket, to: link, via: gw, rollback: rollback)
                result.routes.append(.init(dst: Self.anyAddress(gw.family), gw: gw))
            }
            let script = EgressRules.script(ifName: link.name, addresses: conf.addresses, destinations: conf.destinations)
            rollback.onFailure("remove the NAT rules") { try pod.namespace.run { try nft.apply(EgressRules.teardownScript()) } }
            try pod.namespace.run { try nft.apply(script) }
            return result
        }
    }

    static func anyAddress(_ f: IPAddress.Family) -> IPPrefix { f == .v4 ? IPPrefix("0.0.0.0/0")! : IPPrefix("::/0")! }

    /// The pod forwards what it redirects: net.ipv4.ip_forward, and for IPv6
    /// net.ipv6.conf.all.forwarding (upstream writes net.ipv6.ip_forward, which does not exist).
    func enableForwarding(_ pod: PodAttachment, _ families: [IPAddress.Family]) throws {
        try step("enable forwarding in the pod") {
            try pod.namespace.run {
                if families.contains(.v4) { try Sysctl.set("net/ipv4/ip_forward", "1") }
                if families.contains(.v6) { try Sysctl.set("net/ipv6/conf/all/forwarding", "1") }
            }
        }
    }

    /// The default route of the gateway's family goes through the gateway on `link`: removed from
    /// whichever interface had it (upstream only looks at eth0), restored if the ADD fails.
    func moveDefaultRoute(_ socket: NetlinkSocket, to link: Link, via gw: IPAddress, rollback: Rollback) throws {
        for k in try socket.defaultRoutes(family: gw.family) {
            try step("remove the default route via \(k.gateway.map { "\($0)" } ?? "-")") { try socket.deleteRoute(k) }
            rollback.onFailure("restore the default route via \(k.gateway.map { "\($0)" } ?? "-")") { try socket.addRoute(k) }
        }
        let route = Netlink.Route(destination: Self.anyAddress(gw.family), gateway: gw, linkIndex: link.index)
        try step("add default route via \(gw) dev \(link.name)") { try socket.addRoute(route) }
    }

    /// Ready when nftables can be used (its command is installed).
    public func status(_ r: PluginRequest) throws {
        do { _ = try NFT.locate() } catch {
            throw CNIError(.unavailable, "egress-router: nftables is not installed", details: error.description)
        }
    }

    /// The link and the NAT rules go; each is tried whatever the other did, and nothing is left
    /// to do when the namespace is gone.
    public func del(_ r: PluginRequest) throws {
        var steps = BestEffort()
        steps.run { try PodAttachment.deleteLink(named: r.ifName, netns: r.netns) }
        steps.run {
            guard !r.netns.isEmpty, let nft = try? NFT.locate(), let pod = try NetworkNamespace.ifPresent(path: r.netns) else { return }
            try pod.run { try nft.apply(EgressRules.teardownScript()) }
        }
        try steps.finish()
    }

    /// The link (its kind), the reserved addresses, the default route via the gateway on it, and
    /// the NAT rules as configured (one SNAT and one DNAT per destination in each family's table).
    public func check(_ r: PluginRequest) throws {
        let conf = try EgressRouterConfig(r.config)
        let c = try PodLinkCheck(r)
        if c.link.kind != conf.interfaceType.rawValue {
            throw CNIError.invalidConfig("egress-router: \(c.link.name) is a \(c.link.kind), not a \(conf.interfaceType.rawValue)")
        }
        let have = try c.pod.socket.addresses(index: c.link.index).map(\.prefix)
        for a in conf.addresses where !have.contains(a) { throw CNIError.invalidConfig("egress-router: \(a) is not on \(c.link.name)") }
        for gw in conf.gateways {
            let ok = try c.pod.socket.defaultRoutes(family: gw.family).contains { $0.gateway == gw && $0.linkIndex == c.link.index }
            if !ok { throw CNIError.invalidConfig("egress-router: no default route via \(gw) on \(c.link.name)") }
        }
        let nft = try NFT.locate()
        for a in conf.addresses {
            let listing = try c.pod.namespace.run { try nft.list(["table", EgressRules.family(a.family), EgressRules.table]) }
            let rules = NFTRule.all(in: listing)
            let dnat = conf.destinations.filter { $0.address.family == a.family }.count
            if rules.filter({ $0.chain == "postrouting" }).count != 1 || rules.filter({ $0.chain == "prerouting" }).count != dnat {
                throw CNIError.invalidConfig("egress-router: the NAT rules in the pod are not as configured",
                                             details: "table \(EgressRules.family(a.family)) \(EgressRules.table) has \(rules.count) rules, expected \(dnat + 1)")
            }
        }
    }
}
