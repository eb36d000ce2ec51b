import CLibnl
import Glibc
import IPAddressing

/// A neighbour (ARP / NDP) entry.
public struct Neighbour: Sendable, Equatable {
    public var linkIndex: Int32
    public var address: IPAddress
    public var mac: MACAddress?
    /// NUD_* state bits (NUD_PERMANENT = 0x80, NUD_REACHABLE = 0x02, …).
    public var state: UInt16

    public static let permanent: UInt16 = 0x80

    public init(linkIndex: Int32, address: IPAddress, mac: MACAddress?, state: UInt16 = Neighbour.permanent) {
        (self.linkIndex, self.address, self.mac, self.state) = (linkIndex, address, mac, state)
    }
}

extension NetlinkSocket {
    public func neighbours(family: IPAddress.Family) throws(NetlinkError) -> [Neighbour] {
        var out: [Neighbour] = []
        try eachObject("list neighbours", alloc: { rtnl_neigh_alloc_cache(sk, &$0) }) { n in
            guard rtnl_neigh_get_family(n) == family.af, let ip = ipAddress(rtnl_neigh_get_dst(n)) else { return }
            out.append(Neighbour(linkIndex: rtnl_neigh_get_ifindex(n), address: ip, mac: macAddress(rtnl_neigh_get_lladdr(n)),
                                 state: UInt16(truncatingIfNeeded: rtnl_neigh_get_state(n))))
        }
        return out
    }

    /// Adds or replaces a neighbour entry.
    public func setNeighbour(_ n: Neighbour) throws(NetlinkError) {
        try send(neighbourRequest(Int(RTM_NEWNEIGH), flags: NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, n), "set neighbour \(n.address)")
    }

    public func deleteNeighbour(_ n: Neighbour) throws(NetlinkError) {
        try send(neighbourRequest(Int(RTM_DELNEIGH), flags: NLM_F_ACK, n), "delete neighbour \(n.address)")
    }

    func neighbourRequest(_ type: Int, flags: Int32, _ n: Neighbour) -> NetlinkMessage {
        var h = ndmsg()
        h.ndm_family = UInt8(n.address.family.af)
        h.ndm_ifindex = n.linkIndex
        h.ndm_state = n.state
        let m = NetlinkMessage(type: type, flags: flags, header: h)
        m.put(Int(NDA_DST), address: n.address)
        if let mac = n.mac { m.put(Int(NDA_LLADDR), bytes: mac.bytes) }
        return m
    }
}
