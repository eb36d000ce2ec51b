import CLibnl
import Glibc
import IPAddressing

/// A NETLINK_ROUTE socket, bound for life to the network namespace it was opened in: open one
/// per namespace (inside it, once) and do all that namespace's work through it.
public final class NetlinkSocket {
    let sk: OpaquePointer

    /// Opens a socket in the calling thread's current network namespace.
    public init() throws(NetlinkError) { sk = try connectedSocket(NETLINK_ROUTE, "nl_connect") }

    deinit { nl_socket_free(sk) }

    /// Sends a request and waits for the kernel's acknowledgement (`nl_send_sync`, which also
    /// frees the message; ours is kept alive until then and released by NetlinkMessage).
    func send(_ m: NetlinkMessage, _ operation: @autoclosure () -> String) throws(NetlinkError) {
        guard !m.overflowed else { throw NetlinkError(operation(), code: NLE_NOMEM) }
        // nl_send_sync frees the message: hand it a reference of its own.
        nlmsg_get(m.msg)
        try NetlinkError.check(nl_send_sync(sk, m.msg), operation())
    }

    // MARK: Links

    /// The link, or nil when there is none by that name.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        try fetchLink(index: 0, name: name)
    }

    public func link(index: Int32) throws(NetlinkError) -> Link? {
        try fetchLink(index: index, name: nil)
    }

    func fetchLink(index: Int32, name: String?) throws(NetlinkError) -> Link? {
        var l: OpaquePointer?
        let rc = rtnl_link_get_kernel(sk, index, name, &l)
        if rc < 0 {
            let e = NetlinkError("get link \(name ?? String(index))", code: rc)
            if e.isNotFound { return nil }
            throw e
        }
        defer { rtnl_link_put(l) }
        return Link(l!)
    }

    /// Every link in the namespace.
    public func links() throws(NetlinkError) -> [Link] {
        var out: [Link] = []
        try eachObject("list links", alloc: { rtnl_link_alloc_cache(sk, AF_UNSPEC, &$0) }) { out.append(Link($0)) }
        return out
    }

    /// The first link with this MAC address.
    public func link(mac: MACAddress) throws(NetlinkError) -> Link? {
        try links().first { $0.mac == mac }
    }

    /// Link attributes to set on create or change.
    public struct LinkChanges {
        public var name: String?
        public var mtu: UInt32?
        public var mac: MACAddress?
        public var alias: String?
        public var up: Bool?
        public var promisc: Bool?
        /// Enslave to this bridge (or bond); 0 releases.
        public var master: Int32?
        /// Move the link to the namespace of this descriptor.
        public var namespaceFD: Int32?
        public init(name: String? = nil, mtu: UInt32? = nil, mac: MACAddress? = nil, alias: String? = nil,
                    up: Bool? = nil, promisc: Bool? = nil, master: Int32? = nil, namespaceFD: Int32? = nil) {
            (self.name, self.mtu, self.mac, self.alias, self.up, self.namespaceFD) = (name, mtu, mac, alias, up, namespaceFD)
            (self.promisc, self.master) = (promisc, master)
        }
    }

    func putChanges(_ m: NetlinkMessage, _ c: LinkChanges) {
        if let n = c.name { m.put(Int(IFLA_IFNAME), string: n) }
        if let v = c.mtu { m.put(Int(IFLA_MTU), u32: v) }
        if let mac = c.mac { m.put(Int(IFLA_ADDRESS), bytes: mac.bytes) }
        if let a = c.alias { m.put(Int(IFLA_IFALIAS), string: a) }
        if let fd = c.namespaceFD { m.put(Int(IFLA_NET_NS_FD), u32: UInt32(bitPattern: fd)) }
        if let master = c.master { m.put(Int(IFLA_MASTER), u32: UInt32(bitPattern: master)) }
    }

    func linkHeader(index: Int32, up: Bool?, promisc: Bool? = nil) -> ifinfomsg {
        var h = ifinfomsg()
        h.ifi_family = UInt8(AF_UNSPEC)
        h.ifi_index = index
        if let up {
            h.ifi_flags |= up ? Kernel.IFF_UP : 0
            h.ifi_change |= Kernel.IFF_UP
        }
        if let promisc {
            h.ifi_flags |= promisc ? Kernel.IFF_PROMISC : 0
            h.ifi_change |= Kernel.IFF_PROMISC
        }
        return h
    }

    /// Creates a macvlan on `parentIndex` (a link of this socket's namespace), directly in the
    /// namespace of `changes.namespaceFD` when given (no later move).
    public func createMacvlan(parentIndex: Int32, mode: MacvlanMode, broadcastQueueLength: UInt32? = nil,
                              _ changes: LinkChanges) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                               header: linkHeader(index: 0, up: changes.up))
        putChanges(m, changes)
        m.put(Int(IFLA_LINK), u32: UInt32(bitPattern: parentIndex))
        m.nest(Int(IFLA_LINKINFO)) {
            m.put(Int(IFLA_INFO_KIND), string: "macvlan")
            m.nest(Int(IFLA_INFO_DATA)) {
                m.put(Int(IFLA_MACVLAN_MODE), u32: mode.kernelValue)
                if let q = broadcastQueueLength { m.put(Int(IFLA_MACVLAN_BC_QUEUE_LEN), u32: q) }
            }
        }
        try send(m, "create macvlan \(changes.name ?? "")")
    }

    /// Creates an ipvlan on `parentIndex` (a link of this socket's namespace), directly in the
    /// namespace of `changes.namespaceFD` when given.
    public func createIpvlan(parentIndex: Int32, mode: IpvlanMode, _ changes: LinkChanges) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                               header: linkHeader(index: 0, up: changes.up))
        putChanges(m, changes)
        m.put(Int(IFLA_LINK), u32: UInt32(bitPattern: parentIndex))
        m.nest(Int(IFLA_LINKINFO)) {
            m.put(Int(IFLA_INFO_KIND), string: "ipvlan")
            m.nest(Int(IFLA_INFO_DATA)) { m.put(Int(IFLA_IPVLAN_MODE), u16: mode.kernelValue) }
        }
        try send(m, "create ipvlan \(changes.name ?? "")")
    }

    /// Creates a veth pair: `name` here (or in `changes.namespaceFD`), `peer` in `peerNamespaceFD`
    /// with `peerChanges` (MTU, MAC) — one request, each name checked only in its own namespace.
    public func createVeth(name: String, peer: String, peerNamespaceFD: Int32? = nil,
                           _ changes: LinkChanges = LinkChanges(), peerChanges: LinkChanges = LinkChanges()) throws(NetlinkError) {
        var c = changes
        c.name = name
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                               header: linkHeader(index: 0, up: c.up, promisc: c.promisc))
        putChanges(m, c)
        m.nest(Int(IFLA_LINKINFO)) {
            m.put(Int(IFLA_INFO_KIND), string: "veth")
            m.nest(Int(IFLA_INFO_DATA)) {
                m.nest(1 /* VETH_INFO_PEER */) {
                    var ph = ifinfomsg()
                    ph.ifi_family = UInt8(AF_UNSPEC)
                    _ = nlmsg_append(m.msg, &ph, MemoryLayout<ifinfomsg>.size, Int32(NLMSG_ALIGNTO))
                    var pc = peerChanges
                    pc.name = peer
                    pc.namespaceFD = peerNamespaceFD
                    putChanges(m, pc)
                }
            }
        }
        try send(m, "create veth \(name)")
    }

    /// Changes a link (rename needs it down).
    public func setLink(index: Int32, _ changes: LinkChanges) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_ACK, header: linkHeader(index: index, up: changes.up, promisc: changes.promisc))
        putChanges(m, changes)
        try send(m, "set link \(index)")
    }

    public func deleteLink(index: Int32) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_DELLINK), flags: NLM_F_ACK, header: linkHeader(index: index, up: nil))
        try send(m, "delete link \(index)")
    }

    /// Deletes a link; one already gone is fine (DEL's "already done").
    public func deleteLinkIfPresent(index: Int32) throws(NetlinkError) {
        do { try deleteLink(index: index) } catch { if !error.isNotFound { throw error } }
    }

    // MARK: Addresses

    /// The addresses of the namespace, or of one link: then the kernel filters the dump
    /// (NETLINK_GET_STRICT_CHK with the index in the request, kernels ≥ 4.20), so the cost does
    /// not grow with the namespace's other links — a bridge's gateway check on a host with 200
    /// ports read every port's IPv6 link-local address. Filtered here too, whatever the kernel did.
    public func addresses(index: Int32? = nil) throws(NetlinkError) -> [LinkAddress] {
        var out: [LinkAddress] = []
        let alloc: (inout OpaquePointer?) -> Int32 = { cache in
            guard let index, let filtered = self.filteredAddressDump(index: index, into: &cache) else {
                return rtnl_addr_alloc_cache(self.sk, &cache)
            }
            return filtered
        }
        try eachObject("list addresses", alloc: alloc) { a in
            let idx = rtnl_addr_get_ifindex(a)
            if let index, idx != index { return }
            guard let ip = ipAddress(rtnl_addr_get_local(a)),
                  let prefix = IPPrefix(address: ip, length: Int(rtnl_addr_get_prefixlen(a))) else { return }
            out.append(LinkAddress(index: idx, prefix: prefix, flags: UInt32(rtnl_addr_get_flags(a)),
                                   scope: UInt8(truncatingIfNeeded: rtnl_addr_get_scope(a))))
        }
        return out
    }

    /// An RTM_GETADDR dump of one link's addresses into a new address cache; nil (nothing
    /// allocated) when the socket cannot ask for strict checking, so the caller dumps them all.
    func filteredAddressDump(index: Int32, into cache: inout OpaquePointer?) -> Int32? {
        // The cache first: once the request is sent, its answer must be read.
        let made = nl_cache_alloc_name("route/addr", &cache)
        guard made >= 0 else { return made }
        let fd = nl_socket_get_fd(sk)
        var on: Int32 = 1, off: Int32 = 0
        let solNetlink: Int32 = 270, strictCheck: Int32 = 12   // SOL_NETLINK, NETLINK_GET_STRICT_CHK
        guard setsockopt(fd, solNetlink, strictCheck, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            nl_cache_free(cache)
            cache = nil
            return nil
        }
        // The flag is read when a dump starts: off again at once, for the socket's later dumps
        // (libnl's link dumps send a bare rtgenmsg, which strict checking refuses).
        var h = ifaddrmsg()
        h.ifa_index = UInt32(bitPattern: index)
        let sent = nl_send_simple(sk, Int32(RTM_GETADDR), NLM_F_DUMP, &h, MemoryLayout<ifaddrmsg>.size)
        _ = setsockopt(fd, solNetlink, strictCheck, &off, socklen_t(MemoryLayout<Int32>.size))
        guard sent >= 0 else { return sent }
        return nl_cache_pickup(sk, cache)
    }

    func addressRequest(_ type: Int, flags: Int32, index: Int32, _ prefix: IPPrefix, noDAD: Bool) -> NetlinkMessage {
        var h = ifaddrmsg()
        h.ifa_family = UInt8(prefix.family.af)
        h.ifa_prefixlen = UInt8(prefix.length)
        h.ifa_index = UInt32(bitPattern: index)
        if noDAD { h.ifa_flags = UInt8(IFA_F_NODAD) }
        let m = NetlinkMessage(type: type, flags: flags, header: h)
        m.put(Int(IFA_LOCAL), address: prefix.address)
        m.put(Int(IFA_ADDRESS), address: prefix.address)
        // As the Go plugins' netlink library does: a v4 broadcast for prefixes shorter than /31.
        if prefix.family == .v4 && prefix.length < 31 { m.put(Int(IFA_BROADCAST), address: prefix.last) }
        return m
    }

    public func addAddress(index: Int32, _ prefix: IPPrefix, noDAD: Bool = false) throws(NetlinkError) {
        let m = addressRequest(Int(RTM_NEWADDR), flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, index: index, prefix, noDAD: noDAD)
        try send(m, "add address \(prefix)")
    }

    public func deleteAddress(index: Int32, _ prefix: IPPrefix) throws(NetlinkError) {
        try send(addressRequest(Int(RTM_DELADDR), flags: NLM_F_ACK, index: index, prefix, noDAD: false), "delete address \(prefix)")
    }

    // MARK: Routes

    /// Adds a route. `exclusive` fails when one to the same destination exists; without it the
    /// kernel keeps both (an alternative, or an ECMP sibling for IPv6), as the reference's
    /// RouteAddEcmp does; an identical route is still an error.
    public func addRoute(_ r: Route, exclusive: Bool = true, protocol: UInt8 = 3 /* RTPROT_BOOT */) throws(NetlinkError) {
        let flags = NLM_F_CREATE | NLM_F_ACK | (exclusive ? NLM_F_EXCL : 0)
        try send(routeRequest(Int(RTM_NEWROUTE), flags: flags, r, protocol: `protocol`), "add route \(r.destination)")
    }

    /// Deletes a route whatever protocol installed it (kernel, ra, dhcp, boot…).
    public func deleteRoute(_ r: Route) throws(NetlinkError) {
        try send(routeRequest(Int(RTM_DELROUTE), flags: NLM_F_ACK, r, protocol: 0), "delete route \(r.destination)")
    }

    func routeRequest(_ type: Int, flags: Int32, _ r: Route, protocol: UInt8 = Kernel.RTPROT_BOOT) -> NetlinkMessage {
        var h = rtmsg()
        h.rtm_family = UInt8(r.destination.family.af)
        h.rtm_dst_len = UInt8(r.destination.length)
        h.rtm_table = r.table < 256 ? UInt8(r.table) : 252 /* RT_TABLE_COMPAT */
        h.rtm_protocol = `protocol`
        h.rtm_scope = r.scope
        h.rtm_type = Kernel.RTN_UNICAST
        let m = NetlinkMessage(type: type, flags: flags, header: h)
        if r.destination.length > 0 { m.put(Int(RTA_DST.rawValue), address: r.destination.network) }
        m.put(Int(RTA_TABLE.rawValue), u32: r.table)
        if r.priority != 0 { m.put(Int(RTA_PRIORITY.rawValue), u32: r.priority) }
        if r.multipath.isEmpty {
            if let gw = r.gateway { m.put(Int(RTA_GATEWAY.rawValue), address: gw) }
            if r.linkIndex > 0 { m.put(Int(RTA_OIF.rawValue), u32: UInt32(bitPattern: r.linkIndex)) }
        } else {
            // RTA_MULTIPATH: a run of rtnexthop headers, each followed by its RTA_GATEWAY.
            var bytes: [UInt8] = []
            for hop in r.multipath {
                var attrs: [UInt8] = []
                if let gw = hop.gateway {
                    let len = UInt16(4 + gw.bytes.count)
                    attrs += withUnsafeBytes(of: len) { Array($0) } + withUnsafeBytes(of: UInt16(RTA_GATEWAY.rawValue)) { Array($0) } + gw.bytes
                    while attrs.count % 4 != 0 { attrs.append(0) }
                }
                var nh = rtnexthop()
                nh.rtnh_len = UInt16(MemoryLayout<rtnexthop>.size + attrs.count)
                nh.rtnh_hops = hop.weight &- 1
                nh.rtnh_ifindex = hop.linkIndex
                bytes += withUnsafeBytes(of: nh) { Array($0) } + attrs
            }
            m.put(Int(RTA_MULTIPATH.rawValue), bytes: bytes)
        }
        return m
    }

    /// Every route of a family in every table.
    /// The main table's default routes of a family.
    public func defaultRoutes(family: IPAddress.Family) throws(NetlinkError) -> [Route] {
        try routes(family: family).filter { $0.destination.length == 0 && $0.table == Route.mainTable }
    }

    public func routes(family: IPAddress.Family) throws(NetlinkError) -> [Route] {
        try routesWithOrigin(family: family).map(\.route)
    }

    /// A route with who installed it (RTM protocol: 2 kernel, 3 boot, 4 static, 9 ra, 16 dhcp…)
    /// and its type (1 unicast, 2 local, 3 broadcast, 6 blackhole…).
    public struct RouteWithOrigin: Sendable, Equatable {
        public var route: Route
        public var `protocol`: UInt8
        public var type: UInt8
        public var isUnicast: Bool { type == Kernel.RTN_UNICAST }
        public var isKernels: Bool { `protocol` == 2 }
    }

    /// Every route of a family in every table, with its protocol and type.
    public func routesWithOrigin(family: IPAddress.Family) throws(NetlinkError) -> [RouteWithOrigin] {
        var out: [RouteWithOrigin] = []
        try eachObject("list routes", alloc: { rtnl_route_alloc_cache(sk, family.af, 0, &$0) }) { r in
            guard let dst = rtnl_route_get_dst(r),
                  let prefix = IPPrefix(address: ipAddress(dst) ?? IPAddress(family: family, value: 0),
                                        length: Int(nl_addr_get_prefixlen(dst))) else { return }
            var hops: [Route.NextHop] = []
            for i in 0..<rtnl_route_get_nnexthops(r) {
                guard let nh = rtnl_route_nexthop_n(r, i) else { continue }
                // libnl reports rtnh_hops, which is the weight minus one.
                hops.append(Route.NextHop(gateway: ipAddress(rtnl_route_nh_get_gateway(nh)),
                                          linkIndex: rtnl_route_nh_get_ifindex(nh), weight: rtnl_route_nh_get_weight(nh) &+ 1))
            }
            var route = Route(destination: prefix, linkIndex: hops.first?.linkIndex ?? 0,
                              priority: rtnl_route_get_priority(r), table: rtnl_route_get_table(r),
                              scope: rtnl_route_get_scope(r))
            if hops.count == 1 { route.gateway = hops[0].gateway } else { route.multipath = hops }
            out.append(RouteWithOrigin(route: route, protocol: rtnl_route_get_protocol(r), type: rtnl_route_get_type(r)))
        }
        return out
    }
}
