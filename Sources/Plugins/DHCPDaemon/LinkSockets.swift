import DHCPIPAM
import CLinux
import DHCP
import Glibc
import IPAddressing
import LinuxSystem
import NetNS
import Netlink

/// One pod link as the DHCP client uses it: a packet socket (send from 0.0.0.0, hear replies
/// before the link has an address), a UDP socket on port 68 (unicast renewals and releases),
/// and a netlink socket. All three are opened inside the pod's namespace on the calling thread
/// and stay bound to it, so the client's loop later needs no setns at all.
final class LinkSockets: @unchecked Sendable {
    let netlink: NetlinkSocket
    let index: Int32
    let name: String
    let mac: [UInt8]
    let packetFD: Int32
    let udpFD: Int32
    /// The namespace's path and its (device, inode) when opened.
    let namespacePath: String
    let namespaceIdentity: [UInt64]

    /// Opens the sockets in `namespace` for link `name`, brings the link up and waits (≤ 2 s)
    /// until it can send: a link just set up drops what is sent before its carrier is on.
    init(namespace: NetworkNamespace, link name: String) throws {
        let opened = try namespace.run { () throws -> (NetlinkSocket, Link, Int32, Int32) in
            let nl = try NetlinkSocket()
            guard let link = try nl.link(named: name) else {
                throw DHCPClientError.linkMissing(name, namespace.path)
            }
            if !link.isUp { try nl.setLink(index: link.index, .init(up: true)) }
            let p = csystem_packet_socket(link.index)
            guard p >= 0 else { throw SystemError("packet socket", subject: name) }
            let u = csystem_udp_socket_on_link(name, UDPDatagram.clientPort)
            guard u >= 0 else { close(p); throw SystemError("udp socket on port 68", subject: name) }
            return (nl, link, p, u)
        }
        (netlink, index, self.name, packetFD, udpFD) = (opened.0, opened.1.index, name, opened.2, opened.3)
        namespacePath = namespace.path
        namespaceIdentity = [namespace.identity.0, namespace.identity.1]
        mac = opened.1.mac?.bytes ?? []
        let deadline = MonotonicClock.seconds() + 2
        while MonotonicClock.seconds() < deadline {
            guard let l = try netlink.link(index: index) else { break }
            // Operstate up, or unknown (drivers that report none). Not IFF_RUNNING: carrier is
            // on before the kernel's link watcher attaches the queueing discipline, and until
            // then whatever is sent is dropped without an error (the reference's first
            // DISCOVER is lost that way, and its lease comes seconds later).
            if l.isOperUp || (l.operstate == 0 && l.flags & 0x40 != 0) { break }
            usleep(1000)
        }
    }

    deinit {
        close(packetFD)
        close(udpFD)
    }

    /// The link is still there (same index, same name).
    var exists: Bool { ((try? netlink.link(index: index)) ?? nil)?.name == name }

    /// The runtime still has the namespace where it was: its path names the same namespace. (Our
    /// sockets keep a deleted namespace, and the link in it, alive: the link alone cannot tell.)
    var namespaceRemains: Bool { FileSystem.identity(namespacePath) == namespaceIdentity }

    /// A broadcast from `source` (0.0.0.0 until bound) to 255.255.255.255:67.
    func broadcast(_ m: DHCPMessage, from source: IPAddress = IPAddress(family: .v4, value: 0)) throws(SystemError) {
        let d = UDPDatagram(source: source, destination: IPAddress(family: .v4, value: 0xFFFF_FFFF),
                            sourcePort: UDPDatagram.clientPort, destinationPort: UDPDatagram.serverPort, payload: m.encode())
        let packet = d.ipv4Packet(identification: UInt16.random(in: 0...UInt16.max))
        try retryingEINTR("send", subject: name) {
            packet.withUnsafeBytes { csystem_packet_broadcast(packetFD, index, $0.baseAddress, UInt($0.count)) }
        }
    }

    /// A unicast to the server's port 67 through the kernel's routing (RENEWING, RELEASE).
    func unicast(_ m: DHCPMessage, to server: IPAddress) throws(SystemError) {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UDPDatagram.serverPort.bigEndian
        sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: server.value).bigEndian
        let bytes = m.encode()
        try retryingEINTR("sendto", subject: "\(server)") {
            bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &sin) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(udpFD, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    enum Wait { case message(DHCPMessage), timeout, stopped }

    /// Waits until a message `accept` takes arrives (on either socket), `deadline` (monotonic)
    /// passes, or `stopFD` becomes readable. At most 64 packets are read per wake-up, and a
    /// socket error (the link went down) is cleared and waited out, never spun on.
    func receive(until deadline: Double, stopFD: Int32, accept: (DHCPMessage) -> Bool) -> Wait {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let left = deadline - MonotonicClock.seconds()
            if left <= 0 { return .timeout }
            var fds = [pollfd(fd: packetFD, events: Int16(POLLIN), revents: 0), pollfd(fd: udpFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 3, Int32(min(left * 1000 + 1, 60_000)))
            if n < 0 && errno != EINTR { usleep(10_000) }
            if fds[2].revents != 0 { return .stopped }
            let failed = Int16(POLLERR | POLLHUP | POLLNVAL)
            if fds[0].revents & failed != 0 || fds[1].revents & failed != 0 {
                _ = csystem_clear_socket_error(packetFD)
                _ = csystem_clear_socket_error(udpFD)
                usleep(UInt32(min(max(left, 0), 0.2) * 1_000_000))
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                for _ in 0..<64 {
                    let got = buffer.withUnsafeMutableBytes { csystem_packet_receive(packetFD, $0.baseAddress, UInt($0.count)) }
                    if got < 0 { break }
                    guard got > 0, let d = UDPDatagram(ipv4Packet: Array(buffer[0..<got])),
                          d.destinationPort == UDPDatagram.clientPort, let m = DHCPMessage(decoding: d.payload) else { continue }
                    if accept(m) { return .message(m) }
                }
            }
            if fds[1].revents & Int16(POLLIN) != 0 {
                for _ in 0..<64 {
                    let got = buffer.withUnsafeMutableBytes { recv(udpFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if got < 0 { break }
                    if let m = DHCPMessage(decoding: Array(buffer[0..<got])), accept(m) { return .message(m) }
                }
            }
        }
    }

    /// A NAK: the address must not be used any longer (RFC 2131 §4.4.5); the link stays up for
    /// the new discovery.
    func dropAddress(_ prefix: IPPrefix) {
        try? netlink.deleteAddress(index: index, prefix)
    }

    /// A new lease's address on the link (after a NAK took the old one off).
    func addAddress(_ prefix: IPPrefix) {
        try? netlink.addAddress(index: index, prefix)
    }

    /// At expiry (reference behaviour): the address off, the link down.
    func withdraw(_ prefix: IPPrefix) {
        try? netlink.deleteAddress(index: index, prefix)
        try? netlink.setLink(index: index, .init(up: false))
    }

    /// A new lease with another address (after a NAK): the old one off, the new one on.
    func replaceAddress(_ old: IPPrefix, with new: IPPrefix) {
        try? netlink.deleteAddress(index: index, old)
        try? netlink.addAddress(index: index, new)
    }
}

/// Errors of the client that are not system calls.
enum DHCPClientError: Error, CustomStringConvertible {
    case linkMissing(String, String)
    var description: String {
        switch self {
        case .linkMissing(let name, let ns): return "no link \"\(name)\" in \(ns)"
        }
    }
}
