import CLibnl
import IPAddressing

/// What the kernel reports about one link.
public struct Link: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var mtu: UInt32
    public var flags: UInt32
    public var mac: MACAddress?
    /// IFLA_INFO_KIND: "macvlan", "veth", "bridge"…; empty for physical devices.
    public var kind: String
    /// The parent link (IFLA_LINK), e.g. a macvlan's master; 0 when none.
    public var parentIndex: Int32
    /// The bridge or bond the link is enslaved to; 0 when none.
    public var masterIndex: Int32
    public var alias: String
    public var operstate: UInt8
    public var macvlanMode: MacvlanMode?
    public var ipvlanMode: IpvlanMode?

    public var isUp: Bool { flags & Kernel.IFF_UP != 0 }
    public var isPromiscuous: Bool { flags & Kernel.IFF_PROMISC != 0 }
    /// RFC 2863 operational state "up" (IF_OPER_UP): for a bridge port, the peer is up too.
    public var isOperUp: Bool { operstate == Kernel.IF_OPER_UP }
}

extension Link {
    /// A random `veth%08x` name: the reference's form for a host-side veth end and for a link's
    /// temporary name before it is renamed in the pod.
    public static func randomVethName() -> String {
        let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "veth" + String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// macvlan modes, both ways to the kernel's values and the config's words.
public enum MacvlanMode: String, Sendable, CaseIterable {
    case `private`, vepa, bridge, passthru, source

    public var kernelValue: UInt32 {
        switch self {
        case .private: return UInt32(MACVLAN_MODE_PRIVATE.rawValue)
        case .vepa: return UInt32(MACVLAN_MODE_VEPA.rawValue)
        case .bridge: return UInt32(MACVLAN_MODE_BRIDGE.rawValue)
        case .passthru: return UInt32(MACVLAN_MODE_PASSTHRU.rawValue)
        case .source: return UInt32(MACVLAN_MODE_SOURCE.rawValue)
        }
    }

    public init?(kernelValue: UInt32) {
        guard let m = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
        self = m
    }
}

extension Link {
    /// Reads an `rtnl_link` object.
    init(_ l: OpaquePointer) {
        index = rtnl_link_get_ifindex(l)
        name = rtnl_link_get_name(l).map { String(cString: $0) } ?? ""
        mtu = rtnl_link_get_mtu(l)
        flags = rtnl_link_get_flags(l)
        mac = macAddress(rtnl_link_get_addr(l))
        kind = rtnl_link_get_type(l).map { String(cString: $0) } ?? ""
        parentIndex = rtnl_link_get_link(l)
        masterIndex = rtnl_link_get_master(l)
        alias = rtnl_link_get_ifalias(l).map { String(cString: $0) } ?? ""
        operstate = rtnl_link_get_operstate(l)
        macvlanMode = kind == "macvlan" ? MacvlanMode(kernelValue: rtnl_link_macvlan_get_mode(l)) : nil
        var ipvlan: UInt16 = 0
        ipvlanMode = kind == "ipvlan" && rtnl_link_ipvlan_get_mode(l, &ipvlan) == 0 ? IpvlanMode(kernelValue: ipvlan) : nil
    }
}

/// ipvlan modes, both ways to the kernel's values and the config's words.
public enum IpvlanMode: String, Sendable, CaseIterable {
    case l2, l3, l3s

    public var kernelValue: UInt16 {
        switch self {
        case .l2: return UInt16(IPVLAN_MODE_L2.rawValue)
        case .l3: return UInt16(IPVLAN_MODE_L3.rawValue)
        case .l3s: return UInt16(IPVLAN_MODE_L3S.rawValue)
        }
    }

    public init?(kernelValue: UInt16) {
        guard let m = Self.allCases.first(where: { $0.kernelValue == kernelValue }) else { return nil }
        self = m
    }
}
