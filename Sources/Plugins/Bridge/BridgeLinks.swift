import CNI
import Glibc
import IPAddressing
import InterfaceSetup
import LinuxSystem
import Netlink

/// The host side of a bridge attachment: the bridge, the pod's port with its flags and VLANs,
/// gateway addresses and the `<bridge>.<vlan>` gateway link. All through a socket of the
/// plugin's own (host) namespace.
struct BridgeLinks {
    let host: NetlinkSocket
    let conf: BridgeConfig
    /// The host's /proc/sys/net/ipv6/conf, for the bridge's and the port's accept_ra.
    let ipv6Conf = Sysctl.Directory("net/ipv6/conf")

    // MARK: The bridge

    /// The bridge, created when missing (another ADD creating it at the same moment is fine), up,
    /// promiscuous when asked, and with VLAN filtering when the port gets VLANs — also on a bridge
    /// that existed without it (the reference leaves such a bridge unfiltered: no isolation).
    func ensureBridge() throws -> Link {
        let name = conf.bridge
        var created = false
        do {
            try host.createBridge(name: name, mtu: conf.mtu > 0 ? UInt32(conf.mtu) : nil,
                                  vlanFiltering: conf.vlanFiltering ? true : nil, up: true,
                                  promisc: conf.promiscMode ? true : nil)
            created = true
        } catch where error.isExists {
            // Another ADD made it first, or it was there: checked below.
        } catch {
            throw CNIError(code: error.cniError.code, msg: "failed to create bridge \"\(name)\"", details: error.description)
        }
        guard let br = try host.link(named: name) else { throw CNIError(.systemFailure, "could not lookup \"\(name)\"") }
        guard br.kind == "bridge" else {
            throw CNIError(.invalidNetworkConfig, "failed to create bridge \"\(name)\"", details: "\"\(name)\" already exists but is not a bridge")
        }
        // We own the routes of this interface.
        try? ipv6Conf.set("\(name)/accept_ra", "0")
        if created { return br }
        if conf.vlanFiltering {
            try step("turn on vlan_filtering on \"\(name)\"") { try host.setBridgeVLANFiltering(index: br.index, true) }
        }
        if !br.isUp || (conf.promiscMode && !br.isPromiscuous) {
            try step("set \"\(name)\" up") { try host.setLink(index: br.index, .init(up: true, promisc: conf.promiscMode ? true : nil)) }
        }
        return try host.link(index: br.index) ?? br
    }

    // MARK: Ports

    /// What one port of the bridge is: the veth end `peer` (the pod's, or the VLAN gateway's) and
    /// the host end's settings.
    struct Port {
        var peer: String
        /// The namespace of the peer end (nil: the plugin's own).
        var peerNamespaceFD: Int32?
        var mtu: UInt32?
        var mac: MACAddress?
        var vlan: Int
        var trunk: [UInt16]
        var hairpin = false
        var isolated = false
    }

    /// Creates a veth pair, `port.peer` in its namespace and a `veth%08x` host end enslaved to
    /// `bridge`, up, with the port's flags and VLANs. Returns the host end; deleting it takes the
    /// other end along.
    func createPort(_ port: Port, bridge: Link) throws -> Link {
        let hostName = try createVeth(port, bridge: bridge)
        guard let link = try host.link(named: hostName) else { throw CNIError(.systemFailure, "failed to lookup \"\(hostName)\"") }
        do {
            try? ipv6Conf.set("\(hostName)/accept_ra", "0")
            if port.hairpin || port.isolated {
                try step("set bridge port flags on \(hostName)") {
                    try host.setBridgePort(index: link.index, hairpin: port.hairpin ? true : nil, isolated: port.isolated ? true : nil)
                }
            }
            try setVLANs(port: link, BridgePlan.portVLANs(vlan: port.vlan, trunk: port.trunk))
        } catch {
            try? host.deleteLink(index: link.index)
            throw error
        }
        return link
    }

    /// The veth pair under a fresh random host name (another one when ours was taken).
    func createVeth(_ port: Port, bridge: Link) throws -> String {
        var attempt = 0
        while true {
            let hostName = Link.randomVethName()
            do {
                try host.createVeth(name: hostName, peer: port.peer, peerNamespaceFD: port.peerNamespaceFD,
                                    .init(mtu: port.mtu, up: true, master: bridge.index), peerChanges: .init(mtu: port.mtu, mac: port.mac))
                return hostName
            } catch where error.isExists && attempt < 10 && (try? host.link(named: hostName)) != nil {
                attempt += 1
            } catch {
                throw CNIError(code: error.cniError.code, msg: "failed to create the veth pair for \"\(port.peer)\"",
                               details: error.description)
            }
        }
    }

    /// The port's VLANs: unless `preserveDefaultVlan`, whatever it was given on enslaving (the
    /// bridge's default PVID) goes first; then `ranges` (BridgePlan.portVLANs) in one request.
    func setVLANs(port: Link, _ ranges: [BridgeVLANRange]) throws {
        guard !ranges.isEmpty else { return }
        if !conf.preserveDefaultVlan {
            let existing = try host.bridgeVLANs(index: port.index)
            try step("remove default vlan on interface \"\(port.name)\"") {
                try host.setBridgeVLANs(index: port.index, existing.map(BridgeVLANRange.init), remove: true)
            }
        }
        try step("setup vlan tag on interface \"\(port.name)\"") { try host.setBridgeVLANs(index: port.index, ranges) }
    }

    /// Waits until the port forwards (oper state up: its pod end is up), as the reference does,
    /// polling quickly first.
    func waitForwarding(_ port: Link) throws -> Link {
        var current = port
        for delay in [0, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 1000] as [UInt32] {
            if delay > 0 { usleep(delay * 1000) }
            guard let l = try host.link(index: port.index) else { throw CNIError(.systemFailure, "bridge port \(port.name) vanished") }
            current = l
            if l.isOperUp { return l }
        }
        throw CNIError(.systemFailure, "bridge port in error state: \(current.operstate)")
    }

    // MARK: Gateways

    /// `<bridge>.<vlan>`: a veth in this namespace whose peer is a bridge port on the access VLAN.
    var vlanGatewayName: String { "\(conf.bridge).\(conf.vlan)" }

    /// The VLAN's gateway link, created when missing. Call under `withGatewayLock`.
    func ensureVLANGateway(bridge: Link) throws -> (link: Link, created: Bool) {
        let name = vlanGatewayName
        if let l = try host.link(named: name) { return (l, false) }
        guard name.utf8.count <= 15 else {
            throw CNIError(.invalidNetworkConfig, "failed to create vlan gateway \"\(name)\"", details: "interface names are at most 15 bytes")
        }
        _ = try createPort(Port(peer: name, mtu: bridge.mtu, vlan: conf.vlan, trunk: []), bridge: bridge)
        guard let l = try host.link(named: name) else { throw CNIError(.systemFailure, "failed to lookup \"\(name)\"") }
        try step("set \"\(name)\" up") { try host.setLink(index: l.index, .init(up: true)) }
        return (l, true)
    }

    /// Deletes `<bridge>.<vlan>` when no veth port of the bridge but its own carries the VLAN any
    /// more (`excluding`: a port about to go). Call under `withGatewayLock`.
    func releaseVLANGateway(excluding: Int32? = nil) throws {
        guard let gw = try host.link(named: vlanGatewayName), gw.kind == "veth" else { return }
        // With the bridge gone the gateway serves nobody.
        if let br = try host.link(named: conf.bridge) {
            let vid = UInt16(conf.vlan)
            // Users are pods: veth ports on the VLAN. An uplink trunk carrying it keeps nothing alive.
            let candidates = try host.bridgePorts().filter { p in
                p.masterIndex == br.index && p.index != gw.parentIndex && p.index != excluding && p.vlans.contains { $0.id == vid }
            }
            for p in candidates where try host.link(index: p.index)?.kind == "veth" { return }
        }
        try step("delete \"\(gw.name)\"") { try host.deleteLinkIfPresent(index: gw.index) }
    }

    /// Serialises the VLAN gateway's creation, use and removal between ADDs and DELs. The lock's
    /// name is the bridge's, checked as the kernel would take it (no '/', no "..").
    func withGatewayLock<T>(_ body: () throws -> T) throws -> T {
        try Names.validateInterfaceName(conf.bridge, code: .invalidNetworkConfig, what: "bridge")
        let path = "/run/swift-cni/bridge/\(conf.bridge).lock"
        let fd = try step("lock the bridge's gateway state") {
            try FileSystem.makeDirectories("/run/swift-cni/bridge")
            return try FileLock.acquire(path)
        }
        defer { FileLock.release(fd) }
        return try body()
    }

    /// Puts the gateway address on the link, as the reference's ensureAddr: another v4 address
    /// (or an overlapping v6 one) is an error unless `forceAddress` replaces it; an address added
    /// at the same moment by another ADD is fine. The link's MAC is then pinned to itself (a
    /// bridge otherwise follows its lowest port's).
    func ensureAddress(_ gw: IPPrefix, on link: Link) throws {
        let existing = try host.addresses(index: link.index).filter { $0.prefix.family == gw.family }
        for a in existing {
            if a.prefix == gw { return }
            let overlaps = gw.family == .v4 || a.prefix.contains(gw.address) || gw.contains(a.prefix.address)
            guard overlaps else { continue }
            guard conf.forceAddress else {
                throw CNIError(.invalidNetworkConfig, "\"\(link.name)\" already has an IP address different from \(gw)")
            }
            try step("remove IP address \(a.prefix) from \"\(link.name)\"") { try host.deleteAddress(index: link.index, a.prefix) }
        }
        do {
            try host.addAddress(index: link.index, gw)
        } catch where error.isExists {
            // Another ADD put it there at the same moment.
        } catch {
            throw CNIError(code: error.cniError.code, msg: "could not add IP address to \"\(link.name)\"", details: error.description)
        }
        // The MAC as it is now (with this ADD's port enslaved): a bridge whose last port left
        // reads as all zeros until another one arrives.
        if let mac = try host.link(index: link.index)?.mac, mac.bytes.contains(where: { $0 != 0 }) {
            try step("set \"\(link.name)\"'s mac") { try host.setLink(index: link.index, .init(mac: mac)) }
        }
    }

    /// Forwarding on in this namespace; read through netlink (Netlink's DevConf), written to
    /// /proc/sys only when it is off.
    func enableForwarding(_ family: IPAddress.Family) throws {
        let key = family == .v4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding"
        if (try? host.forwarding(family)) == true { return }
        try step("enable forwarding (\(key))") { try Sysctl.set(key, "1") }
    }
}
