import CLibnl
import Glibc
import IPAddressing

/// Per-device and forwarding settings through netlink instead of /proc/sys. The state is the one
/// a /proc/sys write makes; what differs is the lookup: every network namespace has its own
/// /proc/sys/net under that one name, so the walk of /proc/sys/net/ipv4/… compares one entry per
/// namespace on the host (under a global lock) before it reaches the namespace's own. With
/// 200–300 namespaces here that was 0.3–0.5 ms per key, a fifth of a bridge ADD's CPU; a netlink
/// request does not grow with them. It takes the rtnl lock briefly, as each of the ADD's link
/// changes does. IPv6's per-device keys (accept_dad, accept_ra, ndisc_notify) have no netlink
/// setter: they stay in /proc/sys (`Sysctl.Directory` for several under one directory).
extension NetlinkSocket {
    /// An IPv4 per-device key (`net.ipv4.conf.<link>.<key>`): its IPV4_DEVCONF_* number.
    public struct IPv4Conf: Sendable {
        let id: UInt16
        /// IPV4_DEVCONF_ARP_NOTIFY (linux/ip.h; its enum starts at FORWARDING = 1).
        public static let arpNotify = IPv4Conf(id: 22)
    }

    /// Sets IPv4 per-device keys of the link named `link` (IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF).
    /// Call it before the link comes up: on a link that is up the change is also announced as a
    /// link change.
    public func setIPv4Conf(link name: String, _ settings: [(IPv4Conf, UInt32)]) throws(NetlinkError) {
        let m = NetlinkMessage(type: Int(RTM_NEWLINK), flags: NLM_F_ACK, header: linkHeader(index: 0, up: nil))
        m.put(Int(IFLA_IFNAME), string: name)
        m.nest(Int(IFLA_AF_SPEC)) {
            m.nest(Int(AF_INET)) {
                m.nest(Int(IFLA_INET_CONF)) {
                    for (key, value) in settings { m.put(Int(key.id), u32: value) }
                }
            }
        }
        try send(m, "set IPv4 settings of \(name)")
    }

    /// Whether the namespace forwards `family` (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding):
    /// one RTM_GETNETCONF for NETCONFA_IFINDEX_ALL, its answer parsed by libnl's netconf cache (as
    /// `rtnl_link_get_kernel` does for a link: the answer, then the acknowledgement).
    public func forwarding(_ family: IPAddress.Family) throws(NetlinkError) -> Bool {
        let operation = "read \(family == .v4 ? "IPv4" : "IPv6") forwarding"
        let m = NetlinkMessage(type: Int(RTM_GETNETCONF), flags: NLM_F_REQUEST, header: netconfmsg(ncm_family: UInt8(family.af)))
        m.put(Int(NETCONFA_IFINDEX), u32: UInt32(bitPattern: NETCONFA_IFINDEX_ALL))
        guard !m.overflowed else { throw NetlinkError(operation, code: NLE_NOMEM) }
        var value: Int32?
        try eachObject(operation, alloc: { cache in
            // The cache first: once the request is sent, its answer must be read.
            let made = nl_cache_alloc_name("route/netconf", &cache)
            guard made >= 0 else { return made }
            let sent = nl_send_auto(sk, m.msg)
            guard sent >= 0 else { return sent }
            let picked = nl_cache_pickup(sk, cache)
            guard picked >= 0 else { return picked }
            return nl_wait_for_ack(sk)
        }) { nc in
            var forwarding: Int32 = 0
            if rtnl_netconf_get_forwarding(nc, &forwarding) == 0 { value = forwarding }
        }
        guard let value else { throw NetlinkError(operation, code: NLE_MISSING_ATTR) }
        return value != 0
    }
}
