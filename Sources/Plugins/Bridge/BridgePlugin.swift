import CNI
import IPAddressing
import InterfaceSetup
import LinuxSystem
import NetNS
import Netlink
import Firewall
import PluginKit

/// The bridge plugin: a veth pair from the pod to a Linux bridge of the host, with the
/// reference's VLAN (access, trunk), gateway, masquerading and MAC spoof check options.
public struct BridgePlugin: DelegatesIPAM {
    public let about = "swift-cni bridge: a veth pair from the pod to a Linux bridge, with VLAN filtering"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try BridgeConfig(r.config, args: r.cniArgs(known: BridgeConfig.argsKeys))
        try conf.validateForAdd()
        let pod = try PodAttachment(r)
        try pod.requireFreeName()
        let links = BridgeLinks(host: try step("open a netlink socket") { try NetlinkSocket() }, conf: conf)
        // Masquerading is for addresses: an L2-only config ignores ipMasq, as the reference.
        let masq = conf.ipMasq && conf.ipamType != nil ? try Masquerade(conf.ipMasqBackend) : nil
        let nf = conf.macSpoofCheck ? try masq?.nftables ?? NFTables.open() : nil

        return try Rollback.run { rollback in
            var bridge = try links.ensureBridge()
            var port = try links.createPort(.init(peer: r.ifName, peerNamespaceFD: pod.namespace.fd,
                                                  mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil, mac: conf.mac,
                                                  vlan: conf.vlan, trunk: conf.trunk, hairpin: conf.hairpinMode,
                                                  isolated: conf.portIsolation), bridge: bridge)
            rollback.onFailure("delete the veth pair") { try links.host.deleteLinkIfPresent(index: port.index) }
            guard let podLink = try pod.socket.link(named: r.ifName) else {
                throw CNIError(.systemFailure, "failed to lookup \"\(r.ifName)\" in the pod")
            }
            var result = CNIResult(interfaces: [
                .init(name: bridge.name, mac: bridge.mac?.description ?? ""),
                .init(name: port.name, mac: port.mac?.description ?? ""),
                .init(name: podLink.name, mac: podLink.mac?.description ?? "", sandbox: r.netns),
            ])
            if let nf, let mac = podLink.mac {
                let check = SpoofCheck(containerID: r.containerID, ifName: r.ifName)
                rollback.onFailure("remove the MAC spoof check") { try check.teardown(nf) }
                try check.setup(nf, port: port.name, mac: mac)
            }
            if let ipam = conf.ipamType {
                try addAddresses(ipam, to: &result, pod: pod, podLink: podLink, links: links, bridge: bridge, port: port,
                                 masq: masq, rollback: rollback)
            } else {
                result.dns = conf.dns
                if !conf.disableContainerInterface { try pod.setUp(podLink) }
            }
            if !conf.disableContainerInterface { port = try links.waitForwarding(port) }
            // The host end's MAC may have changed; the bridge's does when its first port arrives.
            result.interfaces[1].mac = port.mac?.description ?? ""
            bridge = try links.host.link(index: bridge.index) ?? bridge
            result.interfaces[0].mac = bridge.mac?.description ?? ""
            return result
        }
    }

    /// IPAM's addresses on the pod's link, the gateways on the bridge side, forwarding, and the
    /// masquerading rules.
    func addAddresses(_ ipam: String, to result: inout CNIResult, pod: PodAttachment, podLink: Link, links: BridgeLinks,
                      bridge: Link, port: Link, masq: Masquerade?, rollback: Rollback) throws {
        let conf = links.conf
        let ipamResult = try pod.addIPAM(ipam, to: &result, interface: 2, delegate: delegate, rollback: rollback)
        result.dns = conf.dns.isEmpty ? ipamResult.dns : conf.dns
        let gateways = BridgePlan.gateways(&result, conf)
        try Self.setPodSysctls(pod, enableDAD: conf.enableDAD)
        try pod.configure(podLink, result)
        if !gateways.isEmpty {
            if let gwLink = try addGateways(gateways, links: links, bridge: bridge, port: port, rollback: rollback) {
                result.interfaces.append(.init(name: gwLink.name, mac: gwLink.mac?.description ?? ""))
            }
            for family in Set(gateways.map(\.family)) { try links.enableForwarding(family) }
        }
        if let masq { try masq.setup(result.ips.map(\.address), pod.request, rollback: rollback) }
    }

    /// DAD off unless `enabledad` (it costs seconds, plugins PR #695); ARP announcements on (through
    /// netlink: Netlink's DevConf). A kernel without IPv6 has no such keys; failures are let pass,
    /// as the reference does.
    static func setPodSysctls(_ pod: PodAttachment, enableDAD: Bool) throws {
        let ifName = pod.ifName
        try pod.namespace.run {
            if enableDAD {
                try? Sysctl.set("net/ipv6/conf/\(ifName)/enhanced_dad", "1")
                try? Sysctl.set("net/ipv6/conf/\(ifName)/accept_dad", "1")
            } else {
                try? Sysctl.set("net/ipv6/conf/\(ifName)/accept_dad", "0")
            }
        }
        try? pod.socket.setIPv4Conf(link: ifName, [(.arpNotify, 1)])
    }

    /// Gateway addresses on the bridge, or with an access VLAN on `<bridge>.<vlan>` (created when
    /// missing, under the bridge's lock, and removed again if this ADD fails and nobody else uses
    /// it). Returns the VLAN gateway link when there is one.
    func addGateways(_ gateways: [IPPrefix], links: BridgeLinks, bridge: Link, port: Link, rollback: Rollback) throws -> Link? {
        guard links.conf.vlan != 0 else {
            for gw in gateways { try links.ensureAddress(gw, on: bridge) }
            return nil
        }
        return try links.withGatewayLock {
            let (gwLink, created) = try links.ensureVLANGateway(bridge: bridge)
            if created {
                rollback.onFailure("remove the VLAN gateway") {
                    try links.withGatewayLock { try links.releaseVLANGateway(excluding: port.index) }
                }
            }
            for gw in gateways { try links.ensureAddress(gw, on: gwLink) }
            return try links.host.link(index: gwLink.index) ?? gwLink
        }
    }

    /// Deletes the pod's veth (its host end goes with it), releases IPAM, removes our nftables
    /// rules and, when its last user goes, the `<bridge>.<vlan>` gateway. Succeeds when any of it
    /// is already gone; the rules go even without a namespace (the reference leaves them).
    public func del(_ r: PluginRequest) throws {
        let conf = try BridgeConfig(r.config, args: CNIArgs())
        var steps = BestEffort()
        // The link first (a live port keeps its spoof check until it is gone, as the reference),
        // then the rules, before IPAM: the kernel frees what they held while the rest runs (see
        // teardownRules); their socket stays open to the end.
        steps.run { try PodAttachment.deleteLink(named: r.ifName, netns: r.netns) }
        let firewall = conf.macSpoofCheck || (conf.ipMasq && conf.ipamType != nil)
            ? Masquerade.teardownRules(check: conf.macSpoofCheck ? SpoofCheck(containerID: r.containerID, ifName: r.ifName) : nil,
                                       masquerade: conf.ipMasq && conf.ipamType != nil,
                                       network: r.config.name, ifName: r.ifName, containerID: r.containerID, &steps)
            : nil
        defer { withExtendedLifetime(firewall) {} }
        if let ipam = conf.ipamType { steps.run { try delegate.del(ipam, r) } }
        if conf.isGateway && conf.vlan != 0 && conf.bridgeNameIsValid {
            steps.run {
                let links = BridgeLinks(host: try NetlinkSocket(), conf: conf)
                try links.withGatewayLock { try links.releaseVLANGateway() }
            }
        }
        try steps.finish()
    }

    /// The bridge (promiscuity, MAC), the pod's veth, its host end enslaved to the bridge with the
    /// configured VLANs, and the result's addresses and routes.
    public func check(_ r: PluginRequest) throws {
        let conf = try BridgeConfig(r.config, args: r.cniArgs(known: BridgeConfig.argsKeys))
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLinkCheck(r)
        let host = try NetlinkSocket()
        guard let brIface = c.prev.interfaces.first(where: { $0.name == conf.bridge && $0.sandbox.isEmpty }) else {
            throw CNIError.invalidConfig("CNI created bridge \(conf.bridge) in host namespace was not found")
        }
        guard let br = try host.link(named: conf.bridge) else { throw CNIError.invalidConfig("Interface name \(conf.bridge) not found") }
        guard br.kind == "bridge" else { throw CNIError.invalidConfig("Interface \(br.name) does not have link type of bridge") }
        if !brIface.mac.isEmpty, br.mac != MACAddress(brIface.mac) {
            throw CNIError.invalidConfig("Bridge interface \(br.name) Mac doesn't match: \(brIface.mac)")
        }
        if br.isPromiscuous != conf.promiscMode {
            throw CNIError.invalidConfig("Bridge interface \(br.name) configured Promisc Mode \(conf.promiscMode) doesn't match current state: \(br.isPromiscuous)")
        }
        guard c.link.kind == "veth" else { throw CNIError.invalidConfig("Error: Container interface \(c.link.name) not of type veth") }
        try c.checkMAC()

        // The host end: a veth of the result peered with the pod's and enslaved to the bridge.
        var port: Link?
        for iface in c.prev.interfaces where iface.sandbox.isEmpty && iface.name != conf.bridge {
            guard let l = try host.link(named: iface.name), l.kind == "veth", l.index == c.link.parentIndex,
                  l.parentIndex == c.link.index, l.masterIndex == br.index else { continue }
            if !iface.mac.isEmpty, l.mac != MACAddress(iface.mac) {
                throw CNIError.invalidConfig("Interface \(iface.name) Mac doesn't match: \(iface.mac) not found")
            }
            port = l
            break
        }
        guard let port else { throw CNIError.invalidConfig("CNI veth created for bridge \(conf.bridge) was not found") }
        if conf.vlanFiltering, let problem = BridgePlan.vlanProblem(port: port.name, vlan: conf.vlan, trunk: conf.trunk,
                                                                    actual: try host.bridgeVLANs(index: port.index)) {
            throw CNIError.invalidConfig(problem)
        }
        try c.checkAddressesAndRoutes()
    }

    /// IPAM's GC, and masquerading rules of this network whose attachment is not valid any more.
    public func gc(_ r: PluginRequest) throws {
        let conf = try BridgeConfig(r.config, args: CNIArgs())
        var steps = BestEffort()
        if let ipam = conf.ipamType { steps.run { try delegate.gc(ipam, r) } }
        if conf.ipMasq && conf.ipamType != nil {
            steps.run { try Masquerade.gc(network: r.config.name, valid: Array(try r.config.validAttachments())) }
        }
        try steps.finish()
    }
}
