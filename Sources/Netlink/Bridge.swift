import CLibnl
import Glibc

/// A VLAN on a bridge port, as `bridge vlan` shows it.
public struct BridgeVLAN: Sendable, Equatable {
    public var id: UInt16
    /// Untagged ingress frames get this VLAN.
    public var pvid: Bool
    /// Egress frames of this VLAN leave untagged.
    public var untagged: Bool

    public init(id: UInt16, pvid: Bool = false, untagged: Bool = false) { (self.id, self.pvid, self.untagged) = (id, pvid, untagged) }
}

extension NetlinkSocket {
    /// Creates a bridge (`vlanFiltering` sets IFLA_BR_VLAN_FILTERING), up and promiscuous when asked.
    public func createBridge(name: String, mtu: UInt32? = nil, vlanFiltering: Bool? = nil,
                             up: Bool? = nil, promisc: Bool? = nil) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                               header: linkHeader(index: 0, up: up, promisc: promisc))
        putChanges(m, LinkChanges(name: name, mtu: mtu))
        m.nest(Int(IFLA_LINKINFO)) {
            m.put(Int(IFLA_INFO_KIND), string: "bridge")
            if let vlanFiltering {
                m.nest(Int(IFLA_INFO_DATA)) { m.put(Int(IFLA_BR_VLAN_FILTERING), u8: vlanFiltering ? 1 : 0) }
            }
        }
        try send(m, "create bridge \(name)")
    }

    /// Turns VLAN filtering of an existing bridge on or off.
    public func setBridgeVLANFiltering(index: Int32, _ on: Bool) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_ACK, header: linkHeader(index: index, up: nil))
        m.nest(Int(IFLA_LINKINFO)) {
            m.put(Int(IFLA_INFO_KIND), string: "bridge")
            m.nest(Int(IFLA_INFO_DATA)) { m.put(Int(IFLA_BR_VLAN_FILTERING), u8: on ? 1 : 0) }
        }
        try send(m, "set vlan_filtering on \(index)")
    }

    /// Enslaves a link to a bridge (or bond); 0 releases it.
    public func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_ACK, header: linkHeader(index: index, up: nil))
        m.put(Int(IFLA_MASTER), u32: UInt32(bitPattern: masterIndex))
        try send(m, "set master of \(index) to \(masterIndex)")
    }

    func bridgeHeader(index: Int32) -> ifinfomsg {
        var h = ifinfomsg()
        h.ifi_family = UInt8(AF_BRIDGE)
        h.ifi_index = index
        return h
    }

    /// Port flags of an enslaved link: hairpin (reflective relay) and isolation.
    public func setBridgePort(index: Int32, hairpin: Bool? = nil, isolated: Bool? = nil) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_SETLINK), flags: NLM_F_ACK, header: bridgeHeader(index: index))
        // IFLA_PROTINFO must carry NLA_F_NESTED for the bridge to read it as port attributes.
        m.nest(Int(IFLA_PROTINFO) | Int(NLA_F_NESTED)) {
            if let hairpin { m.put(Int(IFLA_BRPORT_MODE), u8: hairpin ? 1 : 0) }
            if let isolated { m.put(Int(IFLA_BRPORT_ISOLATED), u8: isolated ? 1 : 0) }
        }
        try send(m, "set bridge port flags of \(index)")
    }

    /// Adds (or with `remove`, deletes) a VLAN on a bridge port, as `bridge vlan add … master`.
    public func setBridgeVLAN(index: Int32, _ vlan: BridgeVLAN, remove: Bool = false) throws(NetlinkError) {
        try setBridgeVLANs(index: index, [BridgeVLANRange(vlan)], remove: remove)
    }

    /// Adds (or deletes) several VLANs and VLAN ranges on a bridge port in one request: a trunk
    /// of thousands of VLANs (consecutive or not) is one message, not one per VLAN.
    public func setBridgeVLANs(index: Int32, _ ranges: [BridgeVLANRange], remove: Bool = false) throws(NetlinkError) {
        guard !ranges.isEmpty else { return }
        // Each entry is 8 bytes; a range is two. Sparse trunks outgrow the default page.
        let m = NetlinkMessage(type: remove ? Int(RTM_DELLINK) : Int(RTM_SETLINK), flags: NLM_F_ACK, header: bridgeHeader(index: index),
                               capacity: 256 + 16 * ranges.count)
        func entry(_ vid: UInt16, _ flags: UInt16) {
            var info = bridge_vlan_info()
            info.vid = vid
            info.flags = flags
            m.put(Int(IFLA_BRIDGE_VLAN_INFO), bytes: withUnsafeBytes(of: info) { Array($0) })
        }
        m.nest(Int(IFLA_AF_SPEC)) {
            m.put(Int(IFLA_BRIDGE_FLAGS), u16: UInt16(BRIDGE_FLAGS_MASTER))
            for r in ranges {
                let flags = (r.pvid ? UInt16(BRIDGE_VLAN_INFO_PVID) : 0) | (r.untagged ? UInt16(BRIDGE_VLAN_INFO_UNTAGGED) : 0)
                if r.ids.count == 1 {
                    entry(r.ids.lowerBound, flags)
                } else {
                    entry(r.ids.lowerBound, flags | UInt16(BRIDGE_VLAN_INFO_RANGE_BEGIN))
                    entry(r.ids.upperBound, flags | UInt16(BRIDGE_VLAN_INFO_RANGE_END))
                }
            }
        }
        let what = ranges.map { r in r.ids.count == 1 ? "\(r.ids.lowerBound)" : "\(r.ids.lowerBound)-\(r.ids.upperBound)" }
        try send(m, "\(remove ? "delete" : "add") VLAN \(what.joined(separator: ",")) on \(index)")
    }
}

/// VLAN IDs with the same flags on a bridge port (a range cannot be the PVID).
public struct BridgeVLANRange: Sendable, Equatable {
    public var ids: ClosedRange<UInt16>
    public var pvid: Bool
    public var untagged: Bool

    public init(_ ids: ClosedRange<UInt16>, pvid: Bool = false, untagged: Bool = false) {
        (self.ids, self.pvid, self.untagged) = (ids, pvid, untagged)
    }

    public init(_ v: BridgeVLAN) { self.init(v.id...v.id, pvid: v.pvid, untagged: v.untagged) }

    /// Sorted VLAN IDs folded into runs of consecutive IDs.
    public static func runs(_ ids: [UInt16]) -> [BridgeVLANRange] {
        var out: [BridgeVLANRange] = []
        for id in ids.sorted() {
            if let last = out.last, last.ids.upperBound &+ 1 == id {
                out[out.count - 1].ids = last.ids.lowerBound...id
            } else if out.last?.ids.contains(id) != true {
                out.append(BridgeVLANRange(id...id))
            }
        }
        return out
    }
}

/// A bridge port and its VLANs, from an AF_BRIDGE dump.
public struct BridgePort: Sendable, Equatable {
    public var index: Int32
    public var masterIndex: Int32
    public var vlans: [BridgeVLAN]
}

extension NetlinkSocket {
    /// The VLANs of a bridge port.
    public func bridgeVLANs(index: Int32) throws(NetlinkError) -> [BridgeVLAN] {
        try bridgePorts().first { $0.index == index }?.vlans ?? []
    }

    /// Every bridge port of the namespace with its VLANs, read from an AF_BRIDGE link dump (libnl
    /// asks for RTEXT_FILTER_BRVLAN and decodes them into bitmaps).
    public func bridgePorts() throws(NetlinkError) -> [BridgePort] {
        var out: [BridgePort] = []
        try eachObject("list bridge ports", alloc: { rtnl_link_alloc_cache(sk, AF_BRIDGE, &$0) }) { l in
            var port = BridgePort(index: rtnl_link_get_ifindex(l), masterIndex: rtnl_link_get_master(l), vlans: [])
            if let v = rtnl_link_bridge_get_port_vlan(l) {
                let info = v.pointee
                let vlans = withUnsafeBytes(of: info.vlan_bitmap) { Array($0.bindMemory(to: UInt32.self)) }
                let untagged = withUnsafeBytes(of: info.untagged_bitmap) { Array($0.bindMemory(to: UInt32.self)) }
                for id in 1..<4095 where vlans[id / 32] & (1 << UInt32(id % 32)) != 0 {
                    port.vlans.append(BridgeVLAN(id: UInt16(id), pvid: Int(info.pvid) == id,
                                                 untagged: untagged[id / 32] & (1 << UInt32(id % 32)) != 0))
                }
            }
            out.append(port)
        }
        return out
    }
}
