import CNI
import InterfaceSetup
import NetNS
import Netlink
import PluginKit

/// The ipvlan plugin: an ipvlan of a host link (sharing its MAC) in the pod. Chained without
/// `ipam`, it takes the addresses of the previous result and, without `master`, that result's
/// single interface as master.
public struct IpvlanPlugin: DelegatesIPAM {
    public let about = "swift-cni ipvlan: an IP-VLAN sub-interface of a host link in the pod"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    /// The master's name: configured, else (chained) the previous result's single interface,
    /// else the default-route link.
    func masterName(_ conf: IpvlanConfig, prev: CNIResult?, socket: NetlinkSocket) throws -> String {
        if let m = conf.master { return m }
        if conf.ipamType == nil, let prev {
            guard prev.interfaces.count == 1 else {
                throw CNIError(.invalidNetworkConfig, "chained master failure: the previous result must have exactly one interface",
                               details: "it has \(prev.interfaces.count); set \"master\"")
            }
            return prev.interfaces[0].name
        }
        return try DefaultRoute.interface(socket)
    }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try IpvlanConfig(r.config)
        let prev = try r.config.prevResult()
        if conf.ipamType == nil && (prev?.ips.isEmpty ?? true) {
            throw CNIError(.invalidNetworkConfig, "IPAM plugin returned missing IP config",
                           details: "without \"ipam\", ipvlan takes its addresses from the previous plugin's result")
        }
        let pod = try PodLink.openNamespace(r.netns)
        let podSocket = try pod.run { try NetlinkSocket() }
        let masterSocket = conf.linkInContainer ? podSocket : try NetlinkSocket()
        let master = try PodLink.master(named: masterName(conf, prev: prev, socket: masterSocket), socket: masterSocket, mtu: conf.mtu)
        return try Rollback.run { rollback in
            let link = try PodLink.create(named: r.ifName, podSocket: podSocket, rollback: rollback) { temp in
                var changes = NetlinkSocket.LinkChanges(name: temp, mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil)
                if !conf.linkInContainer { changes.namespaceFD = pod.fd }
                do { try masterSocket.createIpvlan(parentIndex: master.index, mode: conf.mode, changes) } catch {
                    throw CNIError(.systemFailure, "failed to create ipvlan", details: "\(error)")
                }
            }
            var result = PodLink.result(for: link, r, dns: conf.dns)
            if let ipam = conf.ipamType {
                try PodLink.addIPAM(ipam, to: &result, r, delegate: delegate, rollback: rollback)
            } else if let prev {
                result.ips = prev.ips.map { var ip = $0; ip.interface = 0; return ip }
                result.routes = prev.routes
                if conf.dns.isEmpty { result.dns = prev.dns }
            }
            try PodLink.enableNotify(r.ifName, in: pod)
            try InterfaceConfigurator(namespace: pod, socket: podSocket).configure(link, result)
            return result
        }
    }

    /// Releases IPAM first and deletes the link; reads no master, so it succeeds when the master,
    /// the link or the namespace is gone (the reference fails when the master is gone).
    public func del(_ r: PluginRequest) throws {
        if let ipam = r.config.ipamType { try delegate.del(ipam, r) }
        try PodLink.deleteLink(named: r.ifName, netns: r.netns)
    }

    /// The interface is an ipvlan in the configured mode on the master, with the result's
    /// addresses and routes.
    public func check(_ r: PluginRequest) throws {
        let conf = try IpvlanConfig(r.config)
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLink.checked(r)
        let link = c.link
        let masterSocket = conf.linkInContainer ? c.socket : try NetlinkSocket()
        if link.kind != "ipvlan" { throw CNIError.invalidConfig("Error: Container interface: \(link.name) not of type ipvlan") }
        if link.ipvlanMode != conf.mode {
            throw CNIError.invalidConfig("Container ipvlan mode \(link.ipvlanMode?.rawValue ?? "?") does not match expected value: \(conf.mode.rawValue)")
        }
        if let m = conf.master, let master = try masterSocket.link(named: m), link.parentIndex != master.index {
            throw CNIError.invalidConfig("Container ipvlan is not on master \(m)")
        }
        try PodLink.checkAddressesAndRoutes(c.prev, ifName: r.ifName, link: link, socket: c.socket)
    }

}
