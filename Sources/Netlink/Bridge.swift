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
    /// Creates a bridge (`vlanFiltering` sets IFLA_BR_VLAN_FILTERING).
    public func createBridge(name: String, mtu: UInt32? = nil, vlanFiltering: Bool? = nil) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                               header: linkHeader(index: 0, up: nil))
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
        let m = NetlinkMessage(type: remove ? Int(RTM_DELLINK) : Int(RTM_SETLINK), flags: NLM_F_ACK, header: bridgeHeader(index: index))
        m.nest(Int(IFLA_AF_SPEC)) {
            m.put(Int(IFLA_BRIDGE_FLAGS), u16: UInt16(BRIDGE_FLAGS_MASTER))
            var info = bridge_vlan_info()
            info.vid = vlan.id
            info.flags = (vlan.pvid ? UInt16(BRIDGE_VLAN_INFO_PVID) : 0) | (vlan.untagged ? UInt16(BRIDGE_VLAN_INFO_UNTAGGED) : 0)
            m.put(Int(IFLA_BRIDGE_VLAN_INFO), bytes: withUnsafeBytes(of: info) { Array($0) })
        }
        try send(m, "\(remove ? "delete" : "add") VLAN \(vlan.id) on \(index)")
    }
}

extension NetlinkSocket {
    /// The VLANs of a bridge port, read from an AF_BRIDGE link dump (libnl asks for
    /// RTEXT_FILTER_BRVLAN and decodes them into bitmaps).
    public func bridgeVLANs(index: Int32) throws(NetlinkError) -> [BridgeVLAN] {
        var out: [BridgeVLAN] = []
        try eachObject("list bridge ports", alloc: { rtnl_link_alloc_cache(sk, AF_BRIDGE, &$0) }) { l in
            guard rtnl_link_get_ifindex(l) == index, let v = rtnl_link_bridge_get_port_vlan(l) else { return }
            let info = v.pointee
            let vlans = withUnsafeBytes(of: info.vlan_bitmap) { Array($0.bindMemory(to: UInt32.self)) }
            let untagged = withUnsafeBytes(of: info.untagged_bitmap) { Array($0.bindMemory(to: UInt32.self)) }
            for id in 1..<4095 where vlans[id / 32] & (1 << UInt32(id % 32)) != 0 {
                out.append(BridgeVLAN(id: UInt16(id), pvid: Int(info.pvid) == id,
                                      untagged: untagged[id / 32] & (1 << UInt32(id % 32)) != 0))
            }
        }
        return out
    }
}
