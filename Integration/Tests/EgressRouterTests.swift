import CNI
import Foundation
import Testing
import TestSupport

/// egress-router in redirect mode with real traffic: a client namespace reaches the router pod
/// on its cluster interface (eth0); the router's macvlan (net1) on the "node network" — a veth
/// whose far end is in an "external" namespace holding the gateway and the destinations —
/// forwards it, so the destination sees the reserved source address.
@Suite(.serialized, .enabled(if: Root.required, "needs root (network namespaces)"))
struct EgressRouterTests {
    let plugin = BuildProducts.path("egress-router")

    final class Scene: @unchecked Sendable {
        let s: HostAndPod
        let client: NetNS
        let ext: NetNS
        var servers: [Process] = []

        init() throws {
            s = try HostAndPod()
            client = try NetNS("client")
            ext = try NetNS("ext")
            // Node network: uplink0 in the node (host) namespace, its peer in "ext".
            try s.host.ip("link", "add", "uplink0", "type", "veth", "peer", "name", "ext0", "netns", ext.name)
            try s.host.ip("link", "set", "uplink0", "up")
            for a in ["192.168.12.1/24", "192.168.12.90/24", "192.168.12.91/24", "192.168.12.92/24", "2001:db8:12::1/64", "2001:db8:12::91/64"] {
                try ext.ip("addr", "add", a, "dev", "ext0", "nodad")
            }
            try ext.ip("link", "set", "ext0", "up")
            // Cluster network: the router pod's eth0 and the client.
            try s.pod.ip("link", "add", "eth0", "type", "veth", "peer", "name", "c0", "netns", client.name)
            try s.pod.ip("addr", "add", "10.129.2.31/23", "dev", "eth0")
            try s.pod.ip("addr", "add", "fd00:129::31/64", "dev", "eth0", "nodad")
            try s.pod.ip("link", "set", "eth0", "up")
            try s.pod.ip("route", "add", "default", "via", "10.129.2.1", "dev", "eth0")
            try client.ip("addr", "add", "10.129.2.10/23", "dev", "c0")
            try client.ip("addr", "add", "fd00:129::10/64", "dev", "c0", "nodad")
            try client.ip("link", "set", "c0", "up")
        }

        deinit { for p in servers where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }

        func conf(_ ip: String, version: String = "0.4.0") -> String {
            #"{"cniVersion":"\#(version)","type":"egress-router","name":"egress-router","interfaceArgs":{"master":"uplink0"},"ip":\#(ip)}"#
        }

        func run(_ command: String, _ conf: String) throws -> Command {
            try s.plugin(BuildProducts.path("egress-router"), command, conf, ifName: "net1")
        }

        /// A server in "ext" on `address`:`port` that answers each TCP connection (or UDP
        /// datagram) with the peer's address and its own port.
        func serve(_ proto: String, _ address: String, _ port: Int) throws {
            let code = proto == "tcp" ? """
                import socket,sys
                f=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
                s=socket.socket(f,socket.SOCK_STREAM);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
                s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8);print('up',flush=True)
                while True:
                    c,a=s.accept();c.sendall(('%s %s'%(a[0],sys.argv[2])).encode());c.close()
                """ : """
                import socket,sys
                f=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
                s=socket.socket(f,socket.SOCK_DGRAM);s.bind((sys.argv[1],int(sys.argv[2])));print('up',flush=True)
                while True:
                    d,a=s.recvfrom(100);s.sendto(('%s %s'%(a[0],sys.argv[2])).encode(),a)
                """
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            p.arguments = ["--net=\(ext.path)", "/usr/bin/python3", "-c", code, address, String(port)]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            servers.append(p)
            _ = try out.fileHandleForReading.read(upToCount: 3)   // "up\n": listening
        }

        /// What a server answered the client connecting to `address`:`port` ("<peer> <server port>").
        func ask(_ proto: String, _ address: String, _ port: Int) throws -> String {
            let code = """
                import socket,sys
                f=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
                s=socket.socket(f,socket.SOCK_STREAM if sys.argv[3]=='tcp' else socket.SOCK_DGRAM);s.settimeout(2)
                if sys.argv[3]=='tcp':
                    s.connect((sys.argv[1],int(sys.argv[2])));print(s.recv(100).decode())
                else:
                    s.sendto(b'x',(sys.argv[1],int(sys.argv[2])));print(s.recvfrom(100)[0].decode())
                """
            let c = try client.run(["/usr/bin/python3", "-c", code, address, String(port), proto], env: ["PATH": "/usr/bin:/bin"])
            return c.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func ruleset() throws -> JSONValue {
            try JSONValue.parse(try s.pod.run(["nft", "-j", "list", "ruleset"], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]).stdout)
        }
    }

    @Test func redirectsWithTheReservedSourceAddress() throws {
        let sc = try Scene()
        let conf = sc.conf(#"""
            {"addresses":["192.168.12.99/24"],"gateway":"192.168.12.1",
             "destinations":["80 tcp 192.168.12.91","8080 tcp 192.168.12.91 80","53 UDP 192.168.12.91 5353",
                             "9000 tcp 192.168.12.90/31","192.168.12.92"]}
            """#)
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        #expect(add.json?["ips"]?.arrayValue?.first?["address"] == "192.168.12.99/24")
        #expect(add.json?["ips"]?.arrayValue?.first?["gateway"] == "192.168.12.1")
        // The routing table the OpenShift documentation expects.
        let routes = try sc.s.pod.ipJSON("route", "show").arrayValue ?? []
        #expect(routes.contains { $0["dst"] == "default" && $0["gateway"] == "192.168.12.1" && $0["dev"] == "net1" })
        #expect(!routes.contains { $0["dst"] == "default" && $0["dev"] == "eth0" })
        #expect(routes.contains { $0["dst"] == "192.168.12.1" && $0["dev"] == "net1" })
        #expect(try sc.s.pod.run(["cat", "/proc/sys/net/ipv4/ip_forward"], env: [:]).stdout.hasPrefix("1"))

        try sc.serve("tcp", "192.168.12.91", 80)
        try sc.serve("udp", "192.168.12.91", 5353)
        try sc.serve("tcp", "0.0.0.0", 9000)
        try sc.serve("tcp", "192.168.12.92", 7000)
        #expect(try sc.ask("tcp", "10.129.2.31", 80) == "192.168.12.99 80")      // seen from the reserved address
        #expect(try sc.ask("tcp", "10.129.2.31", 8080) == "192.168.12.99 80")    // a remapped port
        #expect(try sc.ask("udp", "10.129.2.31", 53) == "192.168.12.99 5353")    // UDP, remapped
        #expect(try sc.ask("tcp", "10.129.2.31", 9000) == "192.168.12.99 9000")  // a CIDR destination
        #expect(try sc.ask("tcp", "10.129.2.31", 7000) == "192.168.12.99 7000")  // everything else: the fallback

        // The rules as configured, read back from the pod's kernel.
        let rules = (try sc.ruleset()["nftables"]?.arrayValue ?? []).compactMap { $0["rule"] }
        #expect(rules.filter { $0["chain"] == "prerouting" }.count == 5)
        #expect(rules.filter { $0["chain"] == "postrouting" }.count == 1)
        let prev = try #require(add.json)
        let checkConf = String(conf.dropLast()) + #","prevResult":"# + prev.serializedString() + "}"
        let check = try sc.run("CHECK", checkConf)
        #expect(check.status == 0, "\(check.stdout)")
        // CHECK sees a rule gone.
        _ = try sc.s.pod.run(["nft", "flush", "chain", "ip", "egress_cni", "postrouting"], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(try sc.run("CHECK", checkConf).json?["code"] == 7)

        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
        #expect(try sc.s.pod.link("net1") == nil)
        #expect((try sc.ruleset()["nftables"]?.arrayValue ?? []).allSatisfy { $0["table"] == nil })
        #expect(try sc.run("DEL", conf).status == 0)
    }

    /// The OpenShift documentation's example as written (master: the node's default-route link),
    /// and a DEL after the pod's namespace is gone.
    @Test func theOpenShiftExampleUnchanged() throws {
        let sc = try Scene()
        try sc.s.host.ip("route", "add", "default", "dev", "uplink0")
        let conf = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Conf/egress-router-openshift.json").path, encoding: .utf8)
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        try sc.serve("tcp", "192.168.12.91", 80)
        #expect(try sc.ask("tcp", "10.129.2.31", 80) == "192.168.12.99 80")
        sc.s.pod.delete()
        let del = try sc.run("DEL", conf)
        #expect(del.status == 0, "\(del.stdout)")
    }

    @Test func ipv6() throws {
        let sc = try Scene()
        let conf = sc.conf(#"{"addresses":["2001:db8:12::99/64"],"gateway":"2001:db8:12::1","destinations":["80 tcp 2001:db8:12::91 8080","2001:db8:12::91"]}"#)
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        try sc.serve("tcp", "2001:db8:12::91", 8080)
        try sc.serve("tcp", "2001:db8:12::91", 7000)
        #expect(try sc.ask("tcp", "fd00:129::31", 80) == "2001:db8:12::99 8080")
        #expect(try sc.ask("tcp", "fd00:129::31", 7000) == "2001:db8:12::99 7000")
        #expect(try sc.s.pod.run(["cat", "/proc/sys/net/ipv6/conf/all/forwarding"], env: [:]).stdout.hasPrefix("1"))
        #expect(try sc.run("DEL", conf).status == 0)
        #expect(try sc.s.pod.link("net1") == nil)
    }

    /// A bad destination is code 7 and nothing is set up; a failure after the link exists
    /// (an unreachable gateway) undoes everything, the pod's own default route included.
    /// The DEL matrix's rows for egress-router (issue #18, item 1): DEL without ADD, with
    /// CNI_NETNS empty (containerd) and then the namespace gone, with the master gone, and with
    /// an older prevResult — rc 0 each time, and nothing of the router left where it can be seen.
    @Test func delEveryWayARuntimeSendsIt() throws {
        let conf = #"{"cniVersion":"1.0.0","type":"egress-router","name":"egress-router","interfaceArgs":{"master":"uplink0"},"ip":{"addresses":["192.168.12.99/24"],"gateway":"192.168.12.1","destinations":["80 tcp 192.168.12.91 8080"]}}"#
        func clean(_ sc: Scene) throws -> Bool {
            try sc.s.pod.link("net1") == nil && (try sc.ruleset()["nftables"]?.arrayValue ?? []).allSatisfy { $0["table"] == nil }
        }
        let sc = try Scene()
        #expect(try sc.run("DEL", conf).status == 0)                               // without ADD
        let add = try sc.run("ADD", conf)
        try #require(add.status == 0, "\(add.stdout)")
        let old = try CNIResult(json: try #require(add.json), version: .v1_0_0).json(version: .v0_4_0)
        let withPrev = String(conf.dropLast()) + #","prevResult":"# + old.serializedString() + "}"
        #expect(try sc.run("DEL", withPrev).status == 0)                           // an older prevResult
        #expect(try clean(sc))
        try #require(try sc.run("ADD", conf).status == 0)
        try sc.s.host.ip("link", "del", "uplink0")                                  // the master gone
        #expect(try sc.run("DEL", conf).status == 0)
        #expect(try clean(sc))

        let sc2 = try Scene()
        try #require(try sc2.run("ADD", conf).status == 0)
        let empty = try sc2.s.plugin(BuildProducts.path("egress-router"), "DEL", conf, ifName: "net1", netns: "")
        #expect(empty.status == 0, "\(empty.stdout)")                              // CNI_NETNS empty (containerd),
        let path = sc2.s.pod.path
        sc2.s.pod.delete()                                                          // then the namespace gone
        #expect(try sc2.s.plugin(BuildProducts.path("egress-router"), "DEL", conf, ifName: "net1", netns: path).status == 0)
        #expect(try sc2.run("DEL", conf).status == 0)                              // and DEL twice
    }

    @Test func badInputChangesNothing() throws {
        let sc = try Scene()
        let bad = try sc.run("ADD", sc.conf(#"{"addresses":["192.168.12.99/24"],"gateway":"192.168.12.1","destinations":["80 icmp 192.168.12.91"]}"#))
        #expect(bad.json?["code"] == 7, "\(bad.stdout)")
        #expect(try sc.s.pod.link("net1") == nil)
        let unreachable = try sc.run("ADD", sc.conf(#"{"addresses":["192.168.12.99/24"],"gateway":"192.168.12.1","destinations":["80 tcp 10.1.1.1/33"]}"#))
        #expect(unreachable.json?["code"] == 7)
        let before = try sc.s.pod.ipJSON("route", "show")
        // A gateway the kernel refuses as a next hop (the subnet's broadcast address): the step
        // after the pod's default route was taken away fails, and the ADD puts everything back.
        let fails = try sc.run("ADD", sc.conf(#"{"addresses":["192.168.12.99/24"],"gateway":"192.168.12.255","destinations":["192.168.12.91"]}"#))
        #expect(fails.status == 1, "\(fails.stdout)")
        #expect(try sc.s.pod.link("net1") == nil)
        #expect(try sc.s.pod.ipJSON("route", "show") == before)
        #expect((try sc.ruleset()["nftables"]?.arrayValue ?? []).allSatisfy { $0["table"] == nil })
    }
}
