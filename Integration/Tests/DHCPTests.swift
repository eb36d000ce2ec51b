import CNI
import Foundation
import Glibc
import LinuxSystem
import Testing
import TestSupport

/// A process the test started, ended by its PID when the fixture goes (LinuxSystem's, not
/// Foundation's Process: its exit monitor missed exits here and left waitUntilExit hanging).
final class Background: @unchecked Sendable {
    let process: BackgroundProcess
    init(_ argv: [String], log: String) throws {
        process = try BackgroundProcess(argv[0], arguments: Array(argv.dropFirst()), stderrPath: log)
    }
    func kill(_ signal: Int32 = SIGTERM) { process.stop(signal) }
}

/// A real dnsmasq serving 10.77.0.50–99 on the host namespace's `vpeer0` (the other end of the
/// macvlan master), and our `dhcp daemon` on a private socket and state directory.
final class DHCPScene: @unchecked Sendable {
    let s: HostAndPod
    var dnsmasq: Background?
    var daemon: Background?
    let macvlan = BuildProducts.path("macvlan")
    let dhcp = BuildProducts.path("dhcp")
    var socket: String { s.dir.file("dhcp.sock") }
    var leases: String { s.dir.file("dnsmasq.leases") }
    var serverLog: String { s.dir.file("dnsmasq.log") }
    var stateDir: String { s.dir.file("state") }
    var daemonLogs: [String] = []

    let range: String

    init(t1: Int = 60, t2: Int = 100, resendTimeout: String = "10s", server: Bool = true,
         range: String = "10.77.0.50,10.77.0.99", scene: HostAndPod? = nil) throws {
        s = try scene ?? HostAndPod()
        self.range = range
        try s.host.ip("addr", "add", "10.77.0.1/24", "dev", "vpeer0")
        if server { try startServer(t1: t1, t2: t2) }
        try startDaemon(resendTimeout: resendTimeout)
    }

    deinit {
        daemon?.kill()
        dnsmasq?.kill()
    }

    func startServer(t1: Int, t2: Int) throws {
        dnsmasq = try Background(["/usr/bin/nsenter", "--net=\(s.host.path)", "--", "/usr/sbin/dnsmasq", "--keep-in-foreground",
                                  "--conf-file=/dev/null", "--user=root", "--port=0", "--bind-interfaces", "--interface=vpeer0",
                                  "--dhcp-range=\(range),2m", "--dhcp-leasefile=\(leases)", "--log-dhcp",
                                  "--log-facility=\(serverLog)", "--pid-file=\(s.dir.file("dnsmasq.pid"))",
                                  "--dhcp-option=121,192.168.9.0/24,10.77.0.254", "--dhcp-option=option:T1,\(t1)",
                                  "--dhcp-option=option:T2,\(t2)", "--no-ping"], log: s.dir.file("dnsmasq.stderr"))
        #expect(waitUntil(5) { ((try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "").contains("DHCP, sockets bound") })
    }

    /// `activated`: started as systemd's socket unit starts it (systemd-socket-activate binds
    /// the socket and passes it as LISTEN_FDS; the daemon starts on the first connection).
    func startDaemon(resendTimeout: String = "10s", activated: Bool = false) throws {
        let log = s.dir.file("daemon-\(daemonLogs.count).log")
        daemonLogs.append(log)
        let argv = [dhcp, "daemon", "-socketpath", socket, "-statedir", stateDir, "-resendtimeout", resendTimeout, "-loglevel", "debug",
                    "-watchinterval", "500ms"]
        daemon = try Background(activated ? ["/usr/bin/systemd-socket-activate", "-l", socket] + argv : argv, log: log)
        #expect(waitUntil(5) { FileManager.default.fileExists(atPath: socket) })
    }

    func conf(_ version: String = "1.0.0", prevResult: String? = nil) -> String {
        let prev = prevResult.map { #","prevResult":\#($0)"# } ?? ""
        return #"{"cniVersion":"\#(version)","name":"dnet","type":"macvlan","master":"vparent0"\#(prev),"ipam":{"type":"dhcp","daemonSocketPath":"\#(socket)","request":[{"option":"classless-static-routes"}]}}"#
    }

    func run(_ command: String, containerID: String = "ctr1", pod: NetNS? = nil, netns: String? = nil,
             prevResult: String? = nil) throws -> TestSupport.Command {
        try s.plugin(macvlan, command, conf(prevResult: prevResult), ifName: "net1", containerID: containerID, netns: netns ?? (pod ?? s.pod).path,
                     args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-\(containerID)")
    }

    var serverLogText: String { (try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "" }
    var leaseFile: String { (try? String(contentsOfFile: leases, encoding: .utf8)) ?? "" }
    func count(_ needle: String) -> Int { serverLogText.components(separatedBy: needle).count - 1 }
    var savedLeases: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? []).filter { $0.hasSuffix(".lease") } }

    /// dnsmasq's lease file writes the client ID as colon-separated hex.
    static func hexClientID(_ text: String) -> String {
        ([0] + Array(text.utf8)).map { String(format: "%02x", $0) }.joined(separator: ":")
    }
}

/// dhcp against a real DHCP server: addresses, routes, renewals, release, restarts, failures.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/dnsmasq") || ProcessInfo.processInfo.environment["CI"] == "true",
                "needs dnsmasq (dnsmasq-base)"))
struct DHCPTests {
    @Test func addGivesTheLeaseAndDelReleasesIt() throws {
        let d = try DHCPScene()
        let add = try d.run("ADD")
        try #require(add.status == 0, "\(add.stdout) \(add.stderr)")
        let result = try CNIResult(json: try #require(add.json), version: .v1_0_0)
        let ip = try #require(result.ips.first)
        let last = Int(ip.address.address.description.split(separator: ".").last!)!
        #expect(ip.address.description.hasPrefix("10.77.0.") && ip.address.length == 24 && (50...99).contains(last))
        #expect(ip.gateway?.description == "10.77.0.1")
        #expect(result.routes.map { "\($0.dst) \($0.gw?.description ?? "-")" } == ["192.168.9.0/24 10.77.0.254"])
        // The kernel: the address and the classless route on net1 in the pod.
        #expect(try d.s.pod.addresses("net1") == [ip.address.description])
        let routes = try d.s.pod.ipJSON("route", "show").arrayValue ?? []
        #expect(routes.contains { $0["dst"] == "192.168.9.0/24" && $0["gateway"] == "10.77.0.254" && $0["dev"] == "net1" })
        // The server: our client ID (<containerID>/<network>/<ifname>) and the pod's name.
        let mac = try #require(try d.s.pod.link("net1")?["address"]?.stringValue)
        let line = try #require(d.leaseFile.split(separator: "\n").first { $0.contains(mac) })
        #expect(line.contains(ip.address.address.description) && line.contains("web-ctr1"))
        #expect(line.hasSuffix(DHCPScene.hexClientID("ctr1/dnet/net1")))
        #expect(d.savedLeases.count == 1)
        let check = try d.run("CHECK", prevResult: add.stdout)
        #expect(check.status == 0, "\(check.stdout)")

        let del = try d.run("DEL")
        #expect(del.status == 0, "\(del.stdout)")
        #expect(waitUntil(3) { d.count("DHCPRELEASE(vpeer0) \(ip.address.address)") == 1 })
        #expect(waitUntil(3) { !d.leaseFile.contains(mac) })
        #expect(try d.s.pod.link("net1") == nil)
        #expect(d.savedLeases.isEmpty)
        #expect(try d.run("DEL").status == 0)                          // again: nothing held, success
        #expect(try d.run("DEL", netns: "").status == 0)               // containerd's empty CNI_NETNS
    }

    /// GC (spec 1.1.0, through macvlan to its IPAM): the leases of attachments the runtime no
    /// longer has are released; the live one keeps renewing. STATUS answers while the daemon does.
    @Test func gcReleasesExactlyTheLeasesNoLiveAttachmentHolds() throws {
        let d = try DHCPScene()
        let pod2 = try NetNS("pod2")
        defer { pod2.delete() }
        #expect(try d.run("ADD", containerID: "ctrA").status == 0)
        #expect(try d.run("ADD", containerID: "ctrB", pod: pod2).status == 0)
        let b = try #require(try pod2.addresses("net1").first?.split(separator: "/").first)
        let gcConf = String(d.conf("1.1.0").dropLast()) + #","cni.dev/valid-attachments":[{"containerID":"ctrA","ifname":"net1"}]}"#
        let gc = try d.s.plugin(d.macvlan, "GC", gcConf, ifName: "net1", containerID: "gc", netns: "")
        #expect(gc.status == 0, "\(gc.stdout)")
        #expect(waitUntil(3) { d.count("DHCPRELEASE(vpeer0) \(b)") == 1 })
        #expect(d.count("DHCPRELEASE") == 1)
        #expect(d.savedLeases.count == 1)
        #expect(try d.s.plugin(d.macvlan, "STATUS", d.conf("1.1.0"), ifName: "net1", containerID: "st", netns: "").status == 0)
        #expect(try d.run("DEL", containerID: "ctrA").status == 0)
        #expect(try d.run("DEL", containerID: "ctrB", pod: pod2).status == 0)
    }

    @Test func twoPodsGetDistinctAddresses() throws {
        let d = try DHCPScene()
        let pod2 = try NetNS("pod2")
        defer { pod2.delete() }
        let a = try d.run("ADD", containerID: "ctrA")
        let b = try d.run("ADD", containerID: "ctrB", pod: pod2)
        try #require(a.status == 0 && b.status == 0, "\(a.stdout) \(b.stdout)")
        let ipA = try d.s.pod.addresses("net1"), ipB = try pod2.addresses("net1")
        #expect(ipA.count == 1 && ipB.count == 1 && ipA != ipB)
        #expect(d.leaseFile.contains(DHCPScene.hexClientID("ctrA/dnet/net1")) && d.leaseFile.contains(DHCPScene.hexClientID("ctrB/dnet/net1")))
        #expect(try d.run("DEL", containerID: "ctrA").status == 0)
        #expect(try d.run("DEL", containerID: "ctrB", pod: pod2).status == 0)
        #expect(waitUntil(3) { d.count("DHCPRELEASE") == 2 })
    }

    /// T1 = 2 s, T2 = 4 s (dnsmasq's option:T1/T2 with its 2-minute minimum lease): renewals
    /// seen by the server; the daemon SIGKILLed and started again resumes the lease from its
    /// state directory (INIT-REBOOT), keeps renewing, and DEL still releases.
    @Test func renewsAndSurvivesADaemonRestart() throws {
        let d = try DHCPScene(t1: 2, t2: 4)
        let add = try d.run("ADD")
        try #require(add.status == 0, "\(add.stdout)")
        let mac = try #require(try d.s.pod.link("net1")?["address"]?.stringValue)
        let address = try #require(try d.s.pod.addresses("net1").first)
        func requests() -> Int { d.count("DHCPREQUEST(vpeer0) \(address.split(separator: "/")[0]) \(mac)") }
        #expect(requests() == 1)
        #expect(waitUntil(6) { requests() >= 2 }, "a renewal at T1")
        #expect(d.savedLeases.count == 1)

        d.daemon?.kill(SIGKILL)
        let before = requests()
        try d.startDaemon()
        #expect(waitUntil(3) { requests() > before }, "INIT-REBOOT right after the restart")
        let resumed = try String(contentsOfFile: d.daemonLogs[1], encoding: .utf8)
        #expect(resumed.contains("resuming") && resumed.contains("resumed"))
        let afterReboot = requests()
        #expect(waitUntil(6) { requests() > afterReboot }, "renewals go on")
        #expect(try d.s.pod.addresses("net1") == [address])
        #expect(try d.run("CHECK", prevResult: add.stdout).status == 0)

        #expect(try d.run("DEL").status == 0)
        #expect(waitUntil(3) { d.count("DHCPRELEASE(vpeer0)") == 1 && !d.leaseFile.contains(mac) })
        #expect(d.savedLeases.isEmpty)
    }

    /// A saved lease the server refuses after a restart (DHCPNAK to INIT-REBOOT): the client starts
    /// over with DISCOVER and the new address replaces the refused one on the link.
    @Test func aRefusedLeaseStartsOverAndTheLinkGetsTheNewAddress() throws {
        let d = try DHCPScene()
        try #require(try d.run("ADD").status == 0)
        let real = try #require(try d.s.pod.addresses("net1").first)
        d.daemon?.kill(SIGKILL)
        // The saved lease now says 10.77.0.200 (in the subnet, outside the server's range), as
        // does the link.
        let file = d.stateDir + "/" + (try #require(d.savedLeases.first))
        guard case .object(var o) = try JSONValue.parse(try String(contentsOfFile: file, encoding: .utf8)),
              var ack = o["ack"]?.stringValue.flatMap({ Data(base64Encoded: $0) }).map({ [UInt8]($0) }) else {
            Issue.record("unreadable lease file"); return
        }
        ack.replaceSubrange(16..<20, with: [10, 77, 0, 200])
        o["ack"] = .string(Data(ack).base64EncodedString())
        try JSONValue.object(o).serializedString().write(toFile: file, atomically: true, encoding: .utf8)
        try d.s.pod.ip("addr", "del", real, "dev", "net1")
        try d.s.pod.ip("addr", "add", "10.77.0.200/24", "dev", "net1")
        try d.startDaemon()
        #expect(waitUntil(5) { d.count("DHCPNAK(vpeer0) 10.77.0.200") == 1 })
        #expect(waitUntil(5) { (try? d.s.pod.addresses("net1")) == [real] }, "\((try? d.s.pod.addresses("net1")) ?? [])")
        let log = try String(contentsOfFile: d.daemonLogs[1], encoding: .utf8)
        #expect(log.contains("saved lease refused; starting over"))
        #expect(try d.run("DEL").status == 0)
        #expect(waitUntil(3) { d.count("DHCPRELEASE(vpeer0) \(real.split(separator: "/")[0])") == 1 })
    }

    /// A saved lease found expired when the daemon starts again: the address comes off and the
    /// link goes down (the reference's expiry behaviour), the record is dropped.
    @Test func anExpiredLeaseTakesTheAddressOffAndTheLinkDown() throws {
        let d = try DHCPScene()
        try #require(try d.run("ADD").status == 0)
        d.daemon?.kill(SIGKILL)
        let file = d.stateDir + "/" + (try #require(d.savedLeases.first))
        var record = try JSONValue.parse(try String(contentsOfFile: file, encoding: .utf8))
        guard case .object(var o) = record else { Issue.record("not an object"); return }
        o["acquired"] = .number(String(Date().timeIntervalSince1970 - 1000))   // the 120 s lease ran out
        record = .object(o)
        try record.serializedString().write(toFile: file, atomically: true, encoding: .utf8)
        try d.startDaemon()
        #expect(waitUntil(3) { (try? d.s.pod.addresses("net1").isEmpty) == true })
        #expect(try d.s.pod.link("net1")?["flags"]?.arrayValue?.contains("UP") == false)
        #expect(d.savedLeases.isEmpty)
        #expect(try d.run("DEL").status == 0)
    }

    @Test func withTheServerStoppedADDFailsAfterTheTimeoutAndLeavesNothing() throws {
        let d = try DHCPScene(resendTimeout: "2s")
        d.dnsmasq?.kill()
        let start = Date()
        let add = try d.run("ADD")
        let took = Date().timeIntervalSince(start)
        #expect(add.status != 0)
        #expect(add.json?["code"]?.intValue == 11)
        #expect(add.json?["msg"]?.stringValue?.contains("no lease for net1") == true)
        #expect(add.json?["details"]?.stringValue?.contains("no DHCP lease on net1 within 2s") == true, "\(add.stdout)")
        #expect(took >= 2 && took < 8)
        #expect(try d.s.pod.link("net1") == nil)                       // macvlan rolled back
        #expect(d.savedLeases.isEmpty)
        #expect(try d.run("DEL").status == 0)
    }

    /// The pod's namespace deleted without a DEL (a missed DEL): the daemon notices, releases the
    /// address to the server and forgets it; a late DEL still succeeds.
    @Test func aNamespaceGoneWithoutDELIsReleased() throws {
        let d = try DHCPScene()
        let pod2 = try NetNS("gone")
        let add = try d.run("ADD", containerID: "ctrG", pod: pod2)
        try #require(add.status == 0, "\(add.stdout)")
        let address = try #require(try pod2.addresses("net1").first?.split(separator: "/").first)
        let path = pod2.path
        pod2.delete()
        #expect(waitUntil(5) { d.count("DHCPRELEASE(vpeer0) \(address)") == 1 })
        #expect(waitUntil(2) { d.savedLeases.isEmpty })
        #expect(try d.run("DEL", containerID: "ctrG", netns: path).status == 0)
    }

    @Test func startedBySocketActivation() throws {
        let d = try DHCPScene()
        d.daemon?.kill()
        try d.startDaemon(activated: true)
        let add = try d.run("ADD")
        #expect(add.status == 0, "\(add.stdout)")
        #expect(try d.s.pod.addresses("net1").count == 1)
        let log = try String(contentsOfFile: d.daemonLogs[1], encoding: .utf8)
        #expect(log.contains("listening") && log.contains("bound"))
        #expect(try d.run("DEL").status == 0)
        #expect(waitUntil(3) { d.count("DHCPRELEASE") == 1 })
    }

    @Test func withoutTheDaemonADDSaysHowToStartIt() throws {
        let d = try DHCPScene()
        d.daemon?.kill()
        let add = try d.run("ADD")
        #expect(add.json?["code"]?.intValue == 11)
        #expect(add.json?["msg"]?.stringValue?.contains("no DHCP daemon at \(d.socket)") == true)
        #expect(try d.s.pod.link("net1") == nil)
        #expect(!FileManager.default.fileExists(atPath: d.socket))     // a stopped daemon removes its socket
    }
}
