import Foundation
import IPAddressing
import LinuxSystem
import NetNS
import Netlink
import Testing
import TestSupport

/// The Netlink and NetNS modules in-process against the real kernel, in namespaces of the test.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct NetlinkNamespaceTests {
    @Test func openingPaths() throws {
        let ns = try NetNS("nl")
        #expect(throws: NetNSError.self) { try NetworkNamespace(path: "/nonexistent/netns") }
        do { _ = try NetworkNamespace(path: "/nonexistent/netns") } catch NetNSError.notFound {} catch { Issue.record("\(error)") }
        do { _ = try NetworkNamespace(path: "/etc/hostname") } catch NetNSError.notANamespace {} catch { Issue.record("\(error)") }
        let a = try NetworkNamespace(path: ns.path), b = try NetworkNamespace(path: ns.path)
        #expect(a.isSame(as: b))
        #expect(!a.isSame(as: try NetworkNamespace.current()))
        let procPath = try NetworkNamespace(path: "/proc/self/ns/net")
        #expect(procPath.isSame(as: try NetworkNamespace.current()))
    }

    @Test func runSwitchesAndReturns() throws {
        let ns = try NetNS("nl")
        let target = try NetworkNamespace(path: ns.path)
        let before = try NetworkNamespace.current()
        let inside = try target.run { try NetworkNamespace.current() }
        #expect(inside.isSame(as: target))
        #expect(try NetworkNamespace.current().isSame(as: before))
        struct Boom: Error {}
        #expect(throws: Boom.self) { try target.run { throw Boom() } }
        #expect(try NetworkNamespace.current().isSame(as: before))
    }

    @Test func temporaryNamespaceIsEmptyAndSeparate() throws {
        let temp = try NetworkNamespace.temporary()
        #expect(!temp.isSame(as: try NetworkNamespace.current()))
        let links = try temp.run { try NetlinkSocket().links() }
        #expect(links.map(\.name) == ["lo"])
    }

    /// One link's addresses come from a dump the kernel filters (the cost of a bridge's gateway
    /// check must not grow with its ports); the socket's later dumps still work.
    @Test func oneLinksAddressesAmongMany() throws {
        let ns = try NetNS("nl")
        let target = try NetworkNamespace(path: ns.path)
        let sock = try target.run { try NetlinkSocket() }
        for i in 0..<20 {
            try sock.createVeth(name: "m\(i)", peer: "n\(i)", NetlinkSocket.LinkChanges())
            let l = try #require(try sock.link(named: "m\(i)"))
            try sock.addAddress(index: l.index, IPPrefix("10.90.\(i).1/24")!, noDAD: true)
            try sock.addAddress(index: l.index, IPPrefix("fd00:90:\(i)::1/64")!, noDAD: true)
        }
        let m7 = try #require(try sock.link(named: "m7"))
        #expect(Set(try sock.addresses(index: m7.index).map(\.prefix.description)) == ["10.90.7.1/24", "fd00:90:7::1/64"])
        #expect(try sock.addresses().count >= 40)
        #expect(try sock.links().count == 41)
        #expect(try sock.addresses(index: 99_999).isEmpty)
    }

    /// arp_notify and forwarding through netlink read back from /proc/sys (what the plugins set
    /// there before); the socket's libnl requests after them still get their own answers.
    @Test func ipv4SettingsAndForwardingWithoutProcSys() throws {
        let ns = try NetNS("nl")
        let target = try NetworkNamespace(path: ns.path)
        let sock = try target.run { try NetlinkSocket() }
        func sysctl(_ key: String) throws -> String {
            try target.run { try String(contentsOfFile: "/proc/sys/" + key, encoding: .utf8) }
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func write(_ key: String, _ value: String) throws {
            try target.run { try value.write(toFile: "/proc/sys/" + key, atomically: false, encoding: .utf8) }
        }
        // A new namespace copies the host's IPv4 "all" and "default" keys (ip_forward, a new
        // link's arp_notify): known values first.
        for key in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/default/arp_notify"] { try write(key, "0") }
        try sock.createVeth(name: "c0", peer: "d0", NetlinkSocket.LinkChanges())
        #expect(try sysctl("net/ipv4/conf/c0/arp_notify") == "0")
        try sock.setIPv4Conf(link: "c0", [(.arpNotify, 1)])
        #expect(try sysctl("net/ipv4/conf/c0/arp_notify") == "1")
        #expect(try sysctl("net/ipv4/conf/d0/arp_notify") == "0")
        #expect(throws: NetlinkError.self) { try sock.setIPv4Conf(link: "nosuch0", [(.arpNotify, 1)]) }
        // Keys under a /proc/sys directory opened once, in the namespace that uses it.
        try target.run {
            let conf = Sysctl.Directory("net/ipv6/conf")
            try conf.set("c0/accept_ra", "0")
            try conf.set("d0/accept_ra", "2")
            #expect(throws: SystemError.self) { try conf.set("nosuch0/accept_ra", "0") }
        }
        #expect(try sysctl("net/ipv6/conf/c0/accept_ra") == "0" && sysctl("net/ipv6/conf/d0/accept_ra") == "2")

        // Forwarding of each family as /proc/sys says, before and after a change.
        for family in [IPAddress.Family.v4, .v6] {
            let key = family == .v4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding"
            #expect(try sock.forwarding(family) == false)
            try write(key, "1")
            #expect(try sock.forwarding(family) == true)
            #expect(try sysctl(key) == "1")
        }
        // The socket's libnl requests after those still pair with their answers.
        #expect(try sock.link(named: "c0")?.name == "c0")
        try sock.setLink(index: (try sock.link(named: "c0"))!.index, .init(up: true))
        #expect(try sock.link(named: "d0")?.isUp == false)
    }

    @Test func linksAddressesRoutesAndNeighbours() throws {
        let ns = try NetNS("nl")
        let target = try NetworkNamespace(path: ns.path)
        let sock = try target.run { try NetlinkSocket() }
        // A veth pair created from inside, renamed, moved halfway to another namespace.
        try sock.createVeth(name: "a0", peer: "b0", NetlinkSocket.LinkChanges(mtu: 1400, mac: MACAddress("c2:00:00:00:aa:01")))
        let a = try #require(try sock.link(named: "a0"))
        #expect(a.kind == "veth" && a.mtu == 1400 && a.mac?.description == "c2:00:00:00:aa:01" && !a.isUp)
        #expect(try sock.link(mac: MACAddress("c2:00:00:00:aa:01")!)?.name == "a0")
        try sock.setLink(index: a.index, .init(name: "renamed0", alias: "was a0", up: true))
        let r = try #require(try sock.link(index: a.index))
        #expect(r.name == "renamed0" && r.alias == "was a0" && r.isUp)
        #expect(try sock.link(named: "a0") == nil)
        try sock.setLink(index: (try sock.link(named: "b0"))!.index, .init(up: true))

        try sock.addAddress(index: a.index, IPPrefix("10.90.0.5/24")!)
        try sock.addAddress(index: a.index, IPPrefix("fd00:90::5/64")!, noDAD: true)
        let addrs = try sock.addresses(index: a.index).map(\.prefix.description)
        #expect(addrs.contains("10.90.0.5/24") && addrs.contains("fd00:90::5/64"))
        #expect(throws: NetlinkError.self) { try sock.addAddress(index: a.index, IPPrefix("10.90.0.5/24")!) }
        do { try sock.addAddress(index: a.index, IPPrefix("10.90.0.5/24")!) } catch { #expect(error.isExists) }

        try sock.addRoute(Netlink.Route(destination: IPPrefix("192.168.90.0/24")!, gateway: IPAddress("10.90.0.1"),
                                        linkIndex: a.index, priority: 50, table: 100))
        let routes = try sock.routes(family: .v4)
        #expect(routes.contains { $0.destination.description == "192.168.90.0/24" && $0.gateway == IPAddress("10.90.0.1")
                                  && $0.table == 100 && $0.priority == 50 && $0.linkIndex == a.index })
        try sock.deleteRoute(Netlink.Route(destination: IPPrefix("192.168.90.0/24")!, gateway: IPAddress("10.90.0.1"),
                                           linkIndex: a.index, priority: 50, table: 100))
        #expect(!(try sock.routes(family: .v4)).contains { $0.table == 100 })

        let n = Neighbour(linkIndex: a.index, address: IPAddress("10.90.0.9")!, mac: MACAddress("c2:00:00:00:bb:09"))
        try sock.setNeighbour(n)
        #expect(try sock.neighbours(family: .v4).contains { $0.address == n.address && $0.mac == n.mac && $0.state & Neighbour.permanent != 0 })
        try sock.deleteNeighbour(n)
        #expect(!(try sock.neighbours(family: .v4)).contains { $0.address == n.address })

        try sock.deleteAddress(index: a.index, IPPrefix("10.90.0.5/24")!)
        #expect(!(try sock.addresses(index: a.index)).contains { $0.prefix.description == "10.90.0.5/24" })
        try sock.deleteLink(index: a.index)
        #expect(try sock.link(index: a.index) == nil)
        do { try sock.deleteLink(index: a.index) } catch { #expect(error.isNotFound) }
    }

    @Test func createInAnotherNamespaceByDescriptor() throws {
        let host = try NetNS("nlh"), pod = try NetNS("nlp")
        let hostNS = try NetworkNamespace(path: host.path), podNS = try NetworkNamespace(path: pod.path)
        let hostSock = try hostNS.run { try NetlinkSocket() }
        let podSock = try podNS.run { try NetlinkSocket() }
        try hostSock.createVeth(name: "hveth0", peer: "pveth0", peerNamespaceFD: podNS.fd)
        #expect(try hostSock.link(named: "hveth0") != nil && hostSock.link(named: "pveth0") == nil)
        #expect(try podSock.link(named: "pveth0") != nil)
        try hostSock.createMacvlan(parentIndex: (try hostSock.link(named: "hveth0"))!.index, mode: .private,
                                   broadcastQueueLength: 10, .init(name: "mv9", namespaceFD: podNS.fd))
        let mv = try #require(try podSock.link(named: "mv9"))
        #expect(mv.kind == "macvlan" && mv.macvlanMode == .private)
        // Moving back to the host by descriptor.
        try podSock.setLink(index: mv.index, .init(namespaceFD: hostNS.fd))
        #expect(try hostSock.link(named: "mv9") != nil && podSock.link(named: "mv9") == nil)
    }

    @Test func multipathRoute() throws {
        let ns = try NetNS("nlmp")
        let sock = try NetworkNamespace(path: ns.path).run { try NetlinkSocket() }
        for (a, b, net) in [("m0", "m0p", "10.91.0.5/24"), ("m1", "m1p", "10.92.0.5/24")] {
            try sock.createVeth(name: a, peer: b, .init(up: true))
            try sock.setLink(index: (try sock.link(named: b))!.index, .init(up: true))
            try sock.addAddress(index: (try sock.link(named: a))!.index, IPPrefix(net)!)
        }
        let i0 = try #require(try sock.link(named: "m0")).index, i1 = try #require(try sock.link(named: "m1")).index
        try sock.addRoute(Netlink.Route(destination: IPPrefix("172.30.0.0/16")!, linkIndex: 0, multipath: [
            .init(gateway: IPAddress("10.91.0.1"), linkIndex: i0, weight: 1),
            .init(gateway: IPAddress("10.92.0.1"), linkIndex: i1, weight: 3),
        ]))
        let r = try #require(try sock.routes(family: .v4).first { $0.destination.description == "172.30.0.0/16" })
        #expect(r.multipath.count == 2)
        #expect(r.multipath.contains { $0.gateway == IPAddress("10.91.0.1") && $0.linkIndex == i0 && $0.weight == 1 })
        #expect(r.multipath.contains { $0.gateway == IPAddress("10.92.0.1") && $0.linkIndex == i1 && $0.weight == 3 })
        let shown = try ns.ipJSON("route", "show", "172.30.0.0/16").arrayValue?.first?["nexthops"]?.arrayValue ?? []
        #expect(shown.count == 2)
    }
}
