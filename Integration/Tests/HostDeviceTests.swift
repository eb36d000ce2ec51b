import CNI
import Foundation
import Testing
import TestSupport

/// host-device moving a veth end of the test's host namespace into its pod namespace, selected
/// by each of name, hwaddr and kernelpath.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct HostDeviceTests {
    let hostDevice = BuildProducts.path("host-device")

    /// A host namespace with a veth end "hd0" (MAC c2:00:00:00:0d:01) to move, and a pod.
    func scene() throws -> HostAndPod {
        let s = try HostAndPod()
        try s.host.ip("link", "add", "hd0", "type", "veth", "peer", "name", "hd0p")
        try s.host.ip("link", "set", "hd0", "address", "c2:00:00:00:0d:01")
        return s
    }

    func conf(_ s: HostAndPod, _ selector: String, ipam: Bool = true) -> String {
        let ipamPart = ipam ? #","ipam":{"type":"host-local","subnet":"10.79.0.0/24","routes":[{"dst":"10.80.0.0/16"}],"dataDir":"\#(s.dataDir)"}"# : ""
        return #"{"cniVersion":"1.0.0","name":"hd","type":"host-device",\#(selector),"dataDir":"\#(stateDir(s))"\#(ipamPart)}"#
    }

    /// Where host-device keeps a device's host state from ADD to DEL in these tests.
    func stateDir(_ s: HostAndPod) -> String { s.dir.file("hd-state") }

    /// The saved states left (container/ifname), none once DEL is done.
    func savedStates(_ s: HostAndPod) -> [String] {
        let top = stateDir(s)
        return ((try? FileManager.default.contentsOfDirectory(atPath: top)) ?? []).flatMap { c in
            ((try? FileManager.default.contentsOfDirectory(atPath: top + "/" + c)) ?? []).map { c + "/" + $0 }
        }
    }

    func reservations(_ s: HostAndPod) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/hd")) ?? [])
            .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".owner-") }
    }

    /// Runs the plugin under `ip netns exec`, which mounts the host namespace's own sysfs (kernelpath).
    func pluginWithSysfs(_ s: HostAndPod, _ command: String, _ conf: String) throws -> Command {
        try Command.run(["ip", "netns", "exec", s.host.name, hostDevice],
                        env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": "ctr1",
                              "CNI_NETNS": s.pod.path, "CNI_IFNAME": "net1", "CNI_PATH": BuildProducts.directory], stdin: conf)
    }

    @Test(arguments: [#""device":"hd0""#, #""hwaddr":"C2:00:00:00:0D:01""#, #""kernelpath":"/sys/devices/virtual/net/hd0""#])
    func moveInAndBack(selector: String) throws {
        let s = try scene()
        let c = conf(s, selector)
        let run = { (cmd: String) in selector.contains("kernelpath") ? try pluginWithSysfs(s, cmd, c) : try s.plugin(hostDevice, cmd, c, ifName: "net1") }
        let add = try run("ADD")
        try #require(add.status == 0, "\(add.stdout)")
        #expect(add.json?["interfaces"] == [["name": "net1", "mac": "c2:00:00:00:0d:01", "sandbox": .string(s.pod.path)]])
        // In the pod: renamed, original MAC, up, alias = host name, the address and route applied.
        let inPod = try #require(try s.pod.link("net1"))
        #expect(inPod["address"] == "c2:00:00:00:0d:01" && inPod["ifalias"] == "hd0")
        #expect(inPod["flags"]?.arrayValue?.contains("UP") == true)
        #expect(try s.pod.addresses("net1") == ["10.79.0.2/24"])
        #expect(try s.pod.ipJSON("route", "show").arrayValue?.contains { $0["dst"] == "10.80.0.0/16" && $0["gateway"] == "10.79.0.1" } == true)
        #expect(try s.host.link("hd0") == nil)
        #expect(reservations(s) == ["10.79.0.2"])
        #expect(savedStates(s) == ["ctr1/net1"])

        let del = try run("DEL")
        #expect(del.status == 0, "\(del.stdout)")
        let back = try #require(try s.host.link("hd0"))
        #expect(back["address"] == "c2:00:00:00:0d:01")
        #expect(back["flags"]?.arrayValue?.contains("UP") == false)
        #expect(back["ifalias"] == nil)
        #expect(try s.pod.link("net1") == nil)
        #expect(reservations(s).isEmpty && savedStates(s).isEmpty)
        #expect(try run("DEL").status == 0)  // again: nothing to do
    }

    /// #18 item 7: the device comes back as ADD found it — up, its MTU and alias, the addresses an
    /// administrator gave it and the routes through it (the reference returns it down and bare).
    @Test func delGivesTheDeviceBackAsItWas() throws {
        let s = try scene()
        try s.host.ip("link", "set", "hd0", "mtu", "1400", "alias", "uplink", "up")
        try s.host.ip("link", "set", "hd0p", "up")
        try s.host.ip("addr", "add", "10.82.0.5/24", "dev", "hd0")
        try s.host.ip("addr", "add", "fd00:82::5/64", "dev", "hd0", "nodad")
        try s.host.ip("route", "add", "10.83.0.0/16", "via", "10.82.0.1", "dev", "hd0", "metric", "50", "proto", "static")
        try s.host.ip("route", "add", "10.84.0.0/16", "dev", "hd0", "scope", "link")
        try s.host.ip("route", "add", "10.86.0.0/16", "via", "10.82.0.1", "dev", "hd0", "table", "100")
        try s.host.ip("-6", "route", "add", "fd00:85::/64", "via", "fd00:82::1", "dev", "hd0")
        func hostState() throws -> (addresses: [String], routes: [String]) {
            let routes = try s.host.ipJSON("route", "show", "table", "all", "dev", "hd0").arrayValue ?? []
            let r6 = try s.host.ipJSON("-6", "route", "show", "table", "all", "dev", "hd0").arrayValue ?? []
            let described = (routes + r6).filter { $0["type"] == nil || $0["type"] == "unicast" }.map { r -> String in
                ["dst", "gateway", "metric", "table", "scope", "protocol"].compactMap { k in r[k].map { "\(k)=\($0.stringValue ?? "\($0)")" } }.joined(separator: " ")
            }.filter { !$0.contains("dst=fe80::/64") }
            return (try s.host.addresses("hd0").sorted(), described.sorted())
        }
        let before = try hostState()
        #expect(before.addresses == ["10.82.0.5/24", "fd00:82::5/64"])
        for dst in ["10.83.0.0/16", "10.84.0.0/16", "10.86.0.0/16", "fd00:85::/64", "10.82.0.0/24", "fd00:82::/64"] {
            #expect(before.routes.contains { $0.hasPrefix("dst=\(dst) ") }, "\(dst) in \(before.routes)")
        }

        let c = conf(s, #""device":"hd0""#)
        let add = try s.plugin(hostDevice, "ADD", c, ifName: "net1")
        try #require(add.status == 0, "\(add.stdout)")
        #expect(try s.host.link("hd0") == nil && savedStates(s) == ["ctr1/net1"])
        // A chained plugin may change it in the pod: DEL puts the host's MTU back.
        try s.pod.ip("link", "set", "net1", "mtu", "1300")
        let del = try s.plugin(hostDevice, "DEL", c, ifName: "net1")
        #expect(del.status == 0, "\(del.stdout)")
        let back = try #require(try s.host.link("hd0"))
        #expect(back["mtu"] == 1400 && back["ifalias"] == "uplink" && back["flags"]?.arrayValue?.contains("UP") == true)
        let after = try hostState()
        #expect(after.addresses == before.addresses)
        #expect(after.routes == before.routes, "\(after.routes) vs \(before.routes)")
        #expect(savedStates(s).isEmpty && reservations(s).isEmpty)
        #expect(try s.plugin(hostDevice, "DEL", c, ifName: "net1").status == 0)
    }

    @Test func checkPassesThenFails() throws {
        let s = try scene()
        let c = conf(s, #""device":"hd0""#)
        let add = try s.plugin(hostDevice, "ADD", c, ifName: "net1")
        try #require(add.status == 0)
        var withPrev = try JSONValue.parse(c).objectValue!
        withPrev["prevResult"] = add.json
        let checkConf = JSONValue.object(withPrev).serializedString()
        #expect(try s.plugin(hostDevice, "CHECK", checkConf, ifName: "net1").status == 0)
        try s.pod.ip("addr", "flush", "dev", "net1")
        #expect(try s.plugin(hostDevice, "CHECK", checkConf, ifName: "net1").status == 1)
        #expect(try s.plugin(hostDevice, "DEL", c, ifName: "net1").status == 0)
    }

    @Test func delAfterTheNetnsIsGoneReleasesTheReservation() throws {
        let s = try scene()
        let c = conf(s, #""device":"hd0""#)
        try #require(try s.plugin(hostDevice, "ADD", c, ifName: "net1").status == 0)
        #expect(reservations(s).count == 1)
        s.pod.delete()  // the veth goes with it
        let del = try s.plugin(hostDevice, "DEL", c, ifName: "net1")
        #expect(del.status == 0, "\(del.stdout)")
        #expect(reservations(s).isEmpty)  // the reference leaks it here (cni#1167)
        #expect(savedStates(s).isEmpty)   // the veth went with the namespace: nothing to give back
    }

    @Test func nameConflictOnDelFailsKeepsTheDeviceThenALaterDelSucceeds() throws {
        let s = try scene()
        let c = conf(s, #""device":"hd0""#)
        try #require(try s.plugin(hostDevice, "ADD", c, ifName: "net1").status == 0)
        try s.host.ip("link", "add", "hd0", "type", "veth", "peer", "name", "squat0")  // takes the host name
        let failed = try s.plugin(hostDevice, "DEL", c, ifName: "net1")
        #expect(failed.status == 1)
        #expect(failed.json?["msg"]?.stringValue?.contains("the name \"hd0\" is taken") == true)
        #expect(try s.pod.link("net1")?["ifalias"] == "hd0")  // still in the pod, as it was
        #expect(try s.pod.addresses("net1") == ["10.79.0.2/24"])
        #expect(reservations(s) == ["10.79.0.2"])  // not released while the device still holds it
        try s.host.ip("link", "del", "hd0")
        let later = try s.plugin(hostDevice, "DEL", c, ifName: "net1")
        #expect(later.status == 0, "\(later.stdout)")
        #expect(try s.host.link("hd0")?["address"] == "c2:00:00:00:0d:01")
        #expect(reservations(s).isEmpty)
    }

    @Test func failureAfterTheMoveReturnsTheDevice() throws {
        let s = try scene()
        // IPAM hands out an address whose route cannot be added: everything is undone.
        let c = #"{"cniVersion":"1.0.0","name":"hd","type":"host-device","device":"hd0","dataDir":"\#(stateDir(s))","ipam":{"type":"host-local","subnet":"10.79.0.0/24","routes":[{"dst":"10.81.0.0/16","gw":"192.0.2.1"}],"dataDir":"\#(s.dataDir)"}}"#
        try s.host.ip("link", "set", "hd0", "up", "mtu", "1450")
        try s.host.ip("link", "set", "hd0", "alias", "uplink")
        try s.host.ip("addr", "add", "10.82.0.5/24", "dev", "hd0")
        try s.host.ip("route", "add", "10.83.0.0/16", "via", "10.82.0.1", "dev", "hd0")
        let add = try s.plugin(hostDevice, "ADD", c, ifName: "net1")
        #expect(add.status == 1)
        #expect(try s.pod.link("net1") == nil)
        let back = try #require(try s.host.link("hd0"))
        #expect(back["address"] == "c2:00:00:00:0d:01" && back["ifalias"] == "uplink" && back["mtu"] == 1450)
        #expect(back["flags"]?.arrayValue?.contains("UP") == true)  // as it was before the ADD
        #expect(try s.host.addresses("hd0") == ["10.82.0.5/24"])
        #expect(try s.host.ipJSON("route", "show", "dev", "hd0").arrayValue?.contains { $0["dst"] == "10.83.0.0/16" } == true)
        #expect(reservations(s).isEmpty && savedStates(s).isEmpty)
    }

    /// R4: DEL gives back only a device its ADD took (marked by the alias ADD sets): the pod's
    /// own links stay where they are, and the IPAM reservation is still released.
    @Test func delNeverTakesALinkItDidNotMove() throws {
        let s = try scene()
        try s.pod.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        // A reservation of this attachment, as an earlier ADD would have left.
        let ipam = try s.plugin(BuildProducts.path("host-local"), "ADD", conf(s, #""device":"hd0""#), ifName: "eth0")
        try #require(ipam.status == 0, "\(ipam.stdout)")
        #expect(reservations(s).count == 1)
        let del = try s.plugin(hostDevice, "DEL", conf(s, #""device":"hd0""#), ifName: "eth0")
        #expect(del.status == 0, "\(del.stdout)")
        #expect(reservations(s).isEmpty)
        #expect(try s.pod.link("eth0") != nil && s.pod.link("eth0p") != nil)
        #expect(try s.host.link("eth0") == nil)
        // A name the kernel would rewrite is refused before anything moves (R3).
        let add = try s.plugin(hostDevice, "ADD", conf(s, #""device":"hd0""#), ifName: "a%d")
        #expect(add.json?["code"] == 4)
        #expect(try s.host.link("hd0") != nil && s.pod.link("a0") == nil)
    }

    @Test func badSelectors() throws {
        let s = try scene()
        #expect(try s.plugin(hostDevice, "ADD", conf(s, #""mtu":1500"#, ipam: false)).json?["code"] == 7)
        #expect(try s.plugin(hostDevice, "ADD", conf(s, #""device":"nope0""#, ipam: false)).json?["code"] == 7)
        #expect(try s.plugin(hostDevice, "ADD", conf(s, #""kernelpath":"/etc""#, ipam: false)).json?["code"] == 7)
        #expect(try s.host.link("hd0") != nil)
    }
}
