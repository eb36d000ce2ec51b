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
    /// one RTM_GETNETCONF for NETCONFA_IFINDEX_ALL.
    public func forwarding(_ family: IPAddress.Family) throws(NetlinkError) -> Bool {
        let operation = "read \(family == .v4 ? "IPv4" : "IPv6") forwarding"
        let m = NetlinkMessage(type: Int(RTM_GETNETCONF), flags: NLM_F_REQUEST, header: netconfmsg(ncm_family: UInt8(family.af)))
        m.put(Int(NETCONFA_IFINDEX), u32: UInt32(bitPattern: NETCONFA_IFINDEX_ALL))
        guard !m.overflowed else { throw NetlinkError(operation, code: NLE_NOMEM) }
        // Sent as it is (nl_send, not nl_send_auto): no acknowledgement asked, sequence number 0,
        // so libnl's own count of the socket's requests and answers stays as it was. The answer
        // (or an error) is read here: nothing is left queued for the socket's next request.
        try NetlinkError.check(nl_send(sk, m.msg), operation)
        let seq: UInt32 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        // The kernel answers a route request before sendmsg returns: the answer is queued by now,
        // so nothing here waits (a reply that is not there is an error, not a hang).
        var value: UInt32?, failure: Int32 = 0, done = false
        let fd = nl_socket_get_fd(sk)
        while !done {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                // A socket error reported first (ENOBUFS) may leave the answer behind it: drop what
                // is queued, for the socket's next request.
                while recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
                throw NetlinkError(operation, code: nl_syserr2nlerr(e))
            }
            NFTBatch.eachMessage(UnsafeRawBufferPointer(rebasing: buffer[..<n])) { type, _, replySeq, payload in
                guard replySeq == seq else { return }
                if type == UInt16(NLMSG_ERROR), payload.count >= 4 {
                    failure = -payload.loadUnaligned(as: Int32.self)
                    done = true
                } else if type == UInt16(RTM_NEWNETCONF), payload.count >= 4 {
                    done = true
                    // netconfmsg (one byte, padded to four), then the attributes.
                    eachAttribute(UnsafeRawBufferPointer(rebasing: payload[4...])) { attr, v in
                        if attr == UInt16(NETCONFA_FORWARDING), v.count >= 4 { value = v.loadUnaligned(as: UInt32.self) }
                    }
                }
            }
            if n == 0 { break }
        }
        if failure > 0 { throw NetlinkError(operation, code: nl_syserr2nlerr(failure)) }
        guard let value else { throw NetlinkError(operation, code: NLE_PARSE_ERR) }
        return value != 0
    }
}
