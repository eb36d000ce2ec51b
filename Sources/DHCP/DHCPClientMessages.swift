import IPAddressing

/// Who the client is and what it asks for, and the messages of RFC 2131 §4.4 built from that.
/// Pure: the daemon sends what these return and classifies what comes back with `accepts`.
public struct DHCPClientMessages: Sendable {
    /// The link's hardware address (chaddr).
    public var mac: [UInt8]
    /// Option 61's value: type 0 and the reference's `<containerID>/<network>/<ifname>`, the
    /// text cut to 254 bytes (ipvlan links share their master's MAC: the ID tells pods apart).
    public var clientID: [UInt8]
    /// Option 12 (the pod's name), when known.
    public var hostName: String?
    /// Option 55: what the config's `request` list asks for.
    public var parameterRequestList: [UInt8]
    /// The config's `provide` options, sent in DISCOVER and REQUEST.
    public var provided: [(code: UInt8, value: [UInt8])]
    /// Ask the server to broadcast its replies (the daemon's `-broadcast`).
    public var broadcast: Bool

    public init(mac: [UInt8], clientID: String, hostName: String? = nil, parameterRequestList: [UInt8] = [1, 3],
                provided: [(code: UInt8, value: [UInt8])] = [], broadcast: Bool = false) {
        self.mac = mac
        // A provided dhcp-client-identifier replaces the generated one (reference behaviour).
        let id = provided.first(where: { $0.code == DHCPOption.clientIdentifier })?.value ?? Array(clientID.utf8)
        self.clientID = [0] + Array(id.prefix(254))
        (self.hostName, self.parameterRequestList, self.provided, self.broadcast) = (hostName, parameterRequestList, provided, broadcast)
    }

    func base(_ type: DHCPMessage.MessageType, xid: UInt32, secs: UInt16) -> DHCPMessage {
        var m = DHCPMessage(op: .request, xid: xid, chaddr: mac)
        m.secs = secs
        m.broadcast = broadcast
        m.options.append((DHCPOption.messageType, [type.rawValue]))
        m.options.append((DHCPOption.clientIdentifier, clientID))
        return m
    }

    /// What every DISCOVER and REQUEST carries after the message-specific options: host name
    /// (a provided one wins), maximum message size (576, which every server accepts), the request
    /// list, then the rest of the config's options (never a second 53/61/50/54/55/57).
    func finish(_ m: inout DHCPMessage) {
        let reserved = Set(m.options.map(\.code) + [DHCPOption.parameterRequestList, 57, DHCPOption.hostName])
        if let h = provided.first(where: { $0.code == DHCPOption.hostName })?.value ?? hostName.map({ Array($0.utf8.prefix(255)) }),
           !h.isEmpty {
            m.options.append((DHCPOption.hostName, h))
        }
        m.options.append((57, [0x02, 0x40]))
        m.options.append((DHCPOption.parameterRequestList, parameterRequestList))
        for o in provided where !reserved.contains(o.code) { m.options.append(o) }
    }

    public func discover(xid: UInt32, secs: UInt16 = 0) -> DHCPMessage {
        var m = base(.discover, xid: xid, secs: secs)
        finish(&m)
        return m
    }

    /// SELECTING: the offer's address (50) and server (54), broadcast.
    public func request(selecting offer: DHCPMessage, xid: UInt32, secs: UInt16 = 0) -> DHCPMessage {
        var m = base(.request, xid: xid, secs: secs)
        m.options.append((DHCPOption.requestedIP, offer.yiaddr.bytes))
        if let server = offer.option(DHCPOption.serverIdentifier) { m.options.append((DHCPOption.serverIdentifier, server)) }
        finish(&m)
        return m
    }

    /// INIT-REBOOT: the address the client had (50), no server identifier, ciaddr 0.
    public func request(rebooting address: IPAddress, xid: UInt32, secs: UInt16 = 0) -> DHCPMessage {
        var m = base(.request, xid: xid, secs: secs)
        m.options.append((DHCPOption.requestedIP, address.bytes))
        finish(&m)
        return m
    }

    /// RENEWING (unicast to the server) and REBINDING (broadcast): ciaddr set, no 50 or 54, and
    /// no broadcast bit (the client can take unicast now).
    public func request(extending lease: DHCPLease, xid: UInt32, secs: UInt16 = 0) -> DHCPMessage {
        var m = base(.request, xid: xid, secs: secs)
        m.ciaddr = lease.address.address
        m.broadcast = false
        finish(&m)
        return m
    }

    /// DHCPRELEASE: ciaddr, server identifier, client identifier; unicast to the server.
    public func release(_ lease: DHCPLease, xid: UInt32) -> DHCPMessage {
        var m = base(.release, xid: xid, secs: 0)
        m.broadcast = false
        m.ciaddr = lease.address.address
        if let server = lease.ack.option(DHCPOption.serverIdentifier) { m.options.append((DHCPOption.serverIdentifier, server)) }
        return m
    }

    /// A reply to this client's transaction: BOOTREPLY, same xid, our chaddr, a client ID equal to
    /// ours when the server echoes one (RFC 6842), and one of `types`.
    public func accepts(_ reply: DHCPMessage, xid: UInt32, _ types: Set<DHCPMessage.MessageType>) -> Bool {
        guard reply.op == .reply, reply.xid == xid, reply.chaddr.prefix(mac.count).elementsEqual(mac),
              let t = reply.messageType, types.contains(t) else { return false }
        if let echoed = reply.option(DHCPOption.clientIdentifier), echoed != clientID { return false }
        return true
    }
}

/// RFC 2131 §4.1 retransmission: 4 s, then doubling, each randomised by ±1 s, capped (the
/// daemon's `-resendmax`, and `-timeout` as the longest wait for one reply). In RENEWING and
/// REBINDING: half the time left until T2 (or expiry), at least 60 s unless less is left.
public enum Retransmission {
    public static func delay(attempt: Int, cap: Double, jitter: Double) -> Double {
        let base = 4.0 * Double(1 << min(max(attempt, 0), 20))
        return max(0.5, min(base, cap) + max(-1, min(1, jitter)))
    }

    public static func extendingDelay(now: Double, until end: Double) -> Double {
        let left = max(0, end - now)
        return max(left / 2, min(60, left))
    }
}
