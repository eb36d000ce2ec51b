import CNI
import InterfaceSetup
import Netlink
import PluginKit

/// The macvlan plugin: a macvlan of a host link, created directly in the pod's namespace.
public struct MacvlanPlugin: DelegatesIPAM {
    public let about = "swift-cni macvlan: a MAC-VLAN sub-interface of a host link in the pod"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try MacvlanConfig(r.config, args: r.cniArgs(known: MacvlanConfig.argsKeys))
        let pod = try PodAttachment(r)
        let masterSocket = conf.linkInContainer ? pod.socket : try NetlinkSocket()
        let master = try MasterLink.find(named: conf.master ?? MasterLink.defaultRouteInterface(masterSocket),
                                         socket: masterSocket, mtu: conf.mtu)
        return try Rollback.run { rollback in
            let link = try pod.createLink("macvlan", rollback: rollback) { name in
                var changes = NetlinkSocket.LinkChanges(name: name, mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil, mac: conf.mac)
                if !conf.linkInContainer { changes.namespaceFD = pod.namespace.fd }
                try masterSocket.createMacvlan(parentIndex: master.index, mode: conf.mode,
                                               broadcastQueueLength: conf.broadcastQueueLength, changes)
            }
            var result = pod.result(for: link, dns: conf.dns)
            if let ipam = conf.ipamType {
                try pod.addIPAM(ipam, to: &result, delegate: delegate, rollback: rollback)
                try pod.enableNotify()
                try pod.configure(link, result)
            } else {
                try pod.setUp(link)
            }
            return result
        }
    }

    /// Releases the IPAM reservation (even when the namespace or link is gone) and deletes the
    /// link, each tried whatever the other did. Only the IPAM type is read from the config: no
    /// master lookup (#954).
    public func del(_ r: PluginRequest) throws {
        var steps = BestEffort()
        if let ipam = r.config.ipamType { steps.run { try delegate.del(ipam, r) } }
        steps.run { try PodAttachment.deleteLink(named: r.ifName, netns: r.netns) }
        try steps.finish()
    }

    public func check(_ r: PluginRequest) throws {
        let conf = try MacvlanConfig(r.config, args: r.cniArgs(known: MacvlanConfig.argsKeys))
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLinkCheck(r)
        let masterSocket = conf.linkInContainer ? c.pod.socket : try NetlinkSocket()
        _ = try MasterLink.find(named: conf.master ?? MasterLink.defaultRouteInterface(masterSocket), socket: masterSocket, mtu: 0)
        if c.link.kind != "macvlan" { throw CNIError.invalidConfig("Error: Container interface: \(c.link.name) not of type macvlan") }
        if c.link.macvlanMode != conf.mode {
            throw CNIError.invalidConfig("Container macvlan mode \(c.link.macvlanMode?.rawValue ?? "?") does not match expected value: \(conf.mode.rawValue)")
        }
        try c.checkMAC()
        try c.checkAddressesAndRoutes()
    }
}
