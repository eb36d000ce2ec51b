import CNI
import InterfaceSetup
import Netlink
import PluginKit

/// The ipvlan plugin: an ipvlan of a host link (sharing its MAC) in the pod. Chained without
/// `ipam`, it takes the addresses of the previous result and, without `master`, that result's
/// single interface as master.
public struct IpvlanPlugin: DelegatesIPAM {
    public let about = "swift-cni ipvlan: an IP-VLAN sub-interface of a host link in the pod"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    /// Where the master's name comes from.
    public enum MasterChoice: Equatable, Sendable {
        case named(String)
        /// The link of the default route.
        case defaultRoute
    }

    /// The master: configured, else (chained, without ipam) the previous result's single
    /// interface, else the default-route link.
    public static func master(_ conf: IpvlanConfig, prev: CNIResult?) throws(CNIError) -> MasterChoice {
        if let m = conf.master { return .named(m) }
        guard conf.ipamType == nil, let prev else { return .defaultRoute }
        guard prev.interfaces.count == 1 else {
            throw CNIError(.invalidNetworkConfig, "chained master failure: the previous result must have exactly one interface",
                           details: "it has \(prev.interfaces.count); set \"master\"")
        }
        return .named(prev.interfaces[0].name)
    }

    /// Chained without `ipam`: the pod's result takes the previous result's addresses (on the new
    /// link), routes and, unless the config has its own, DNS. Code 7 when there are none.
    public static func chainedResult(_ base: CNIResult, prev: CNIResult?, conf: IpvlanConfig) throws(CNIError) -> CNIResult {
        guard let prev, !prev.ips.isEmpty else {
            throw CNIError(.invalidNetworkConfig, "IPAM plugin returned missing IP config",
                           details: "without \"ipam\", ipvlan takes its addresses from the previous plugin's result")
        }
        var result = base
        result.ips = prev.ips.map { var ip = $0; ip.interface = 0; return ip }
        result.routes = prev.routes
        if conf.dns.isEmpty { result.dns = prev.dns }
        return result
    }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try IpvlanConfig(r.config)
        let prev = try r.config.prevResult()
        if conf.ipamType == nil { _ = try Self.chainedResult(CNIResult(), prev: prev, conf: conf) }
        let pod = try PodAttachment(r)
        let masterSocket = conf.linkInContainer ? pod.socket : try NetlinkSocket()
        let masterName: String
        switch try Self.master(conf, prev: prev) {
        case .named(let n): masterName = n
        case .defaultRoute: masterName = try MasterLink.defaultRouteInterface(masterSocket)
        }
        let master = try MasterLink.find(named: masterName, socket: masterSocket, mtu: conf.mtu)
        return try Rollback.run { rollback in
            let link = try pod.createLink("ipvlan", rollback: rollback) { name in
                var changes = NetlinkSocket.LinkChanges(name: name, mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil)
                if !conf.linkInContainer { changes.namespaceFD = pod.namespace.fd }
                try masterSocket.createIpvlan(parentIndex: master.index, mode: conf.mode, changes)
            }
            var result = pod.result(for: link, dns: conf.dns)
            if let ipam = conf.ipamType {
                try pod.addIPAM(ipam, to: &result, delegate: delegate, rollback: rollback)
            } else {
                result = try Self.chainedResult(result, prev: prev, conf: conf)
            }
            try pod.enableNotify()
            try pod.configure(link, result)
            return result
        }
    }

    /// Releases IPAM and deletes the link, each tried whatever the other did; reads no master, so
    /// it succeeds when the master, the link or the namespace is gone (the reference fails when
    /// the master is gone).
    public func del(_ r: PluginRequest) throws {
        var steps = BestEffort()
        if let ipam = r.config.ipamType { steps.run { try delegate.del(ipam, r) } }
        steps.run { try PodAttachment.deleteLink(named: r.ifName, netns: r.netns) }
        try steps.finish()
    }

    /// The interface is an ipvlan in the configured mode on the master, with the result's
    /// addresses and routes.
    public func check(_ r: PluginRequest) throws {
        let conf = try IpvlanConfig(r.config)
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLinkCheck(r)
        let link = c.link
        let masterSocket = conf.linkInContainer ? c.pod.socket : try NetlinkSocket()
        if link.kind != "ipvlan" { throw CNIError.invalidConfig("Error: Container interface: \(link.name) not of type ipvlan") }
        if link.ipvlanMode != conf.mode {
            throw CNIError.invalidConfig("Container ipvlan mode \(link.ipvlanMode?.rawValue ?? "?") does not match expected value: \(conf.mode.rawValue)")
        }
        if let m = conf.master, let master = try masterSocket.link(named: m), link.parentIndex != master.index {
            throw CNIError.invalidConfig("Container ipvlan is not on master \(m)")
        }
        try c.checkAddressesAndRoutes()
    }
}
