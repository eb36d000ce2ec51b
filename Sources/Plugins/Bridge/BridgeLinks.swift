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
        } catch {
            throw CNIError(.systemFailure, "failed to create bridge \"\(name)\"", details: "\(error)")
        }
        guard let br = try host.link(named: name) else { throw CNIError(.systemFailure, "could not lookup \"\(name)\"") }
        guard br.kind == "bridge" else {
            throw CNIError(.invalidNetworkConfig, "failed to create bridge \"\(name)\"", details: "\"\(name)\" already exists but is not a bridge")
        }
        // We own the routes of this interface.
        try? Sysctl.set("net/ipv6/conf/\(name)/accept_ra", "0")
        if created { return br }
        if conf.vlanFiltering {
            do { try host.setBridgeVLANFiltering(index: br.index, true) } catch {
                throw CNIError(.systemFailure, "failed to turn on vlan_filtering on \"\(name)\"", details: "\(error)")
            }
        }
        if !br.isUp || (conf.promiscMode && !br.isPromiscuous) {
            do { try host.setLink(index: br.index, .init(up: true, promisc: conf.promiscMode ? true : nil)) } catch {
                throw CNIError(.systemFailure, "could not set up \"\(name)\"", details: "\(error)")
            }
        }
        return try host.link(index: br.index) ?? br
    }

    // MARK: Ports

    /// Creates a veth pair with `name` in the namespace of `peerNamespaceFD` (nil: here) and a
    /// `veth%08x` host end enslaved to `bridge`, up, with the port's flags and VLANs. Returns the
    /// host end. Its deletion takes the other end with it.
    func createPort(bridge: Link, peer name: String, peerNamespaceFD: Int32?, mtu: Int, mac: MACAddress?,
                    vlan: Int, trunk: [UInt16], hairpin: Bool, isolated: Bool) throws -> Link {
        var hostName = ""
        var attempt = 0
        while true {
            let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            hostName = "veth" + String(repeating: "0", count: 8 - hex.count) + hex
            let m = mtu > 0 ? UInt32(mtu) : nil
            do {
                try host.createVeth(name: hostName, peer: name, peerNamespaceFD: peerNamespaceFD,
                                    .init(mtu: m, up: true, master: bridge.index), peerChanges: .init(mtu: m, mac: mac))
                break
            } catch where error.isExists && attempt < 10 && (try? host.link(named: hostName)) != nil {
                attempt += 1   // our random host name was taken: another one
            } catch {
                throw CNIError(.systemFailure, "failed to create the veth pair for \"\(name)\"", details: "\(error)")
            }
        }
        guard let port = try host.link(named: hostName) else { throw CNIError(.systemFailure, "failed to lookup \"\(hostName)\"") }
        do {
            try? Sysctl.set("net/ipv6/conf/\(hostName)/accept_ra", "0")
            if hairpin || isolated {
                try host.setBridgePort(index: port.index, hairpin: hairpin ? true : nil, isolated: isolated ? true : nil)
            }
            try setVLANs(port: port, vlan: vlan, trunk: trunk)
        } catch {
            try? host.deleteLink(index: port.index)
            throw error as? CNIError ?? CNIError(.systemFailure, "failed to set up bridge port \(hostName)", details: "\(error)")
        }
        return port
    }

    /// The port's VLANs: unless `preserveDefaultVlan`, whatever it was given on enslaving (the
    /// bridge's default PVID) goes first; then the access VLAN (PVID, untagged) — the native VLAN
    /// of a trunk, 1 when no `vlan` is set — and the trunk's tagged VLANs, in one request.
    func setVLANs(port: Link, vlan: Int, trunk: [UInt16]) throws {
        guard vlan != 0 || !trunk.isEmpty else { return }
        if !conf.preserveDefaultVlan {
            let existing = try host.bridgeVLANs(index: port.index)
            do { try host.setBridgeVLANs(index: port.index, existing.map(BridgeVLANRange.init), remove: true) } catch {
                throw CNIError(.systemFailure, "failed to remove default vlan on interface \"\(port.name)\"", details: "\(error)")
            }
        }
        let native = UInt16(vlan != 0 ? vlan : 1)
        let ranges = [BridgeVLANRange(native...native, pvid: true, untagged: true)]
            + BridgeVLANRange.runs(trunk.filter { $0 != native })
        do { try host.setBridgeVLANs(index: port.index, ranges) } catch {
            throw CNIError(.systemFailure, "failed to setup vlan tag on interface \"\(port.name)\"", details: "\(error)")
        }
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
        _ = try createPort(bridge: bridge, peer: name, peerNamespaceFD: nil, mtu: Int(bridge.mtu), mac: nil,
                           vlan: conf.vlan, trunk: [], hairpin: false, isolated: false)
        guard let l = try host.link(named: name) else { throw CNIError(.systemFailure, "failed to lookup \"\(name)\"") }
        do { try host.setLink(index: l.index, .init(up: true)) } catch {
            throw CNIError(.systemFailure, "failed to up \"\(name)\"", details: "\(error)")
        }
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
        do { try host.deleteLink(index: gw.index) } catch {
            guard error.isNotFound else { throw CNIError(.systemFailure, "failed to delete \"\(gw.name)\"", details: "\(error)") }
        }
    }

    /// Serialises the VLAN gateway's creation, use and removal between ADDs and DELs.
    func withGatewayLock<T>(_ body: () throws -> T) throws -> T {
        do {
            try FileSystem.makeDirectories("/run/swift-cni/bridge")
            return try FileLock.withLock("/run/swift-cni/bridge/\(conf.bridge).lock", body)
        } catch let e as SystemError {
            throw CNIError(.systemFailure, "failed to lock the bridge's gateway state", details: e.description)
        }
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
            do { try host.deleteAddress(index: link.index, a.prefix) } catch {
                throw CNIError(.systemFailure, "could not remove IP address from \"\(link.name)\"", details: "\(error)")
            }
        }
        do { try host.addAddress(index: link.index, gw) } catch where error.isExists {} catch {
            throw CNIError(.systemFailure, "could not add IP address to \"\(link.name)\"", details: "\(error)")
        }
        // The MAC as it is now (with this ADD's port enslaved): a bridge whose last port left
        // reads as all zeros until another one arrives.
        if let mac = try host.link(index: link.index)?.mac, mac.bytes.contains(where: { $0 != 0 }) {
            do { try host.setLink(index: link.index, .init(mac: mac)) } catch {
                throw CNIError(.systemFailure, "could not set \"\(link.name)\"'s mac", details: "\(error)")
            }
        }
    }

    static func enableForwarding(_ family: IPAddress.Family) throws {
        let key = family == .v4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding"
        if (try? Sysctl.get(key)) == "1" { return }
        try Sysctl.set(key, "1")
    }
}
