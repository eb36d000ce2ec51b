import CNI
import Glibc
import IPAddressing
import InterfaceSetup
import NetNS
import Netlink
import PluginKit

/// The macvlan plugin: a macvlan of a host link, created directly in the pod's namespace.
public struct MacvlanPlugin: DelegatesIPAM {
    public let about = "swift-cni macvlan: a MAC-VLAN sub-interface of a host link in the pod"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try MacvlanConfig(r.config, args: r.cniArgs(known: MacvlanConfig.argsKeys))
        let pod = try PodLink.openNamespace(r.netns)
        let podSocket = try pod.run { try NetlinkSocket() }
        let hostSocket = try NetlinkSocket()
        let masterSocket = conf.linkInContainer ? podSocket : hostSocket

        let master = try PodLink.master(named: conf.master ?? DefaultRoute.interface(masterSocket), socket: masterSocket, mtu: conf.mtu)
        return try Rollback.run { rollback in
            let link = try PodLink.create(named: r.ifName, podSocket: podSocket, rollback: rollback) { temp in
                var changes = NetlinkSocket.LinkChanges(name: temp, mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil, mac: conf.mac)
                if !conf.linkInContainer { changes.namespaceFD = pod.fd }
                do {
                    try masterSocket.createMacvlan(parentIndex: master.index, mode: conf.mode,
                                                   broadcastQueueLength: conf.broadcastQueueLength, changes)
                } catch {
                    throw CNIError(.systemFailure, "failed to create macvlan", details: "\(error)")
                }
            }
            var result = PodLink.result(for: link, r, dns: conf.dns)
            if let ipam = conf.ipamType {
                try PodLink.addIPAM(ipam, to: &result, r, delegate: delegate, rollback: rollback)
                try PodLink.enableNotify(r.ifName, in: pod)
                try InterfaceConfigurator(namespace: pod, socket: podSocket).configure(link, result)
            } else {
                do { try podSocket.setLink(index: link.index, .init(up: true)) } catch {
                    throw CNIError(.systemFailure, "failed to set \"\(r.ifName)\" up", details: "\(error)")
                }
            }
            return result
        }
    }

    /// Releases the IPAM reservation first (even when the namespace or link is gone), then
    /// deletes the link. Only the IPAM type is read from the config: no master lookup (#954).
    public func del(_ r: PluginRequest) throws {
        if let ipam = r.config.ipamType { try delegate.del(ipam, r) }
        try PodLink.deleteLink(named: r.ifName, netns: r.netns)
    }

    public func check(_ r: PluginRequest) throws {
        let conf = try MacvlanConfig(r.config, args: r.cniArgs(known: MacvlanConfig.argsKeys))
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLink.checked(r)
        let link = c.link
        let masterSocket = conf.linkInContainer ? c.socket : try NetlinkSocket()
        _ = try PodLink.master(named: conf.master ?? DefaultRoute.interface(masterSocket), socket: masterSocket, mtu: 0)
        if link.kind != "macvlan" { throw CNIError.invalidConfig("Error: Container interface: \(link.name) not of type macvlan") }
        if link.macvlanMode != conf.mode {
            throw CNIError.invalidConfig("Container macvlan mode \(link.macvlanMode?.rawValue ?? "?") does not match expected value: \(conf.mode.rawValue)")
        }
        try PodLink.checkMAC(link, c.iface)
        try PodLink.checkAddressesAndRoutes(c.prev, ifName: r.ifName, link: link, socket: c.socket)
    }
}
