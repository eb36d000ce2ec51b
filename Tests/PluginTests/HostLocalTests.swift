import CNI
import Foundation
import HostLocal
import PluginKit
import Testing
import TestSupport

/// host-local through the skeleton, on a temporary data directory.
final class HostLocalFixture {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory("swcni-hl") }
    deinit { dir.remove() }

    func conf(version: String = "1.0.0", ipam: String, extra: String = "") -> String {
        #"{"cniVersion":"\#(version)","name":"net1","type":"macvlan"\#(extra),"ipam":{"type":"host-local","dataDir":"\#(dir.path)",\#(ipam)}}"#
    }

    func call(_ cmd: String, _ conf: String, id: String = "ctr1", ifName: String = "eth0", args: String = "") -> Skeleton.Output {
        PluginCall(cmd, config: conf, containerID: id, ifName: ifName, args: args).run(HostLocalPlugin())
    }

    /// The store as files: name → content (lock, last_reserved and our owner markers left out:
    /// the reference's layout).
    var files: [String: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("net1"))) ?? []
        var out: [String: String] = [:]
        for n in names where n != "lock" && !n.hasPrefix("last_reserved") && !n.hasPrefix(".owner-") { out[n] = try? dir.read("net1/" + n) }
        return out
    }
}

let dual = #""ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"2001:db8:1::/64","rangeStart":"2001:db8:1::10"}]],"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]"#

@Suite struct HostLocalTests {
    @Test(arguments: CNIVersion.allCases)
    func resultShapeForEveryVersion(version: CNIVersion) throws {
        let f = try HostLocalFixture()
        let out = f.call("ADD", f.conf(version: version.rawValue, ipam: dual))
        try #require(out.exitCode == 0, "\(out.text)")
        let json = try #require(out.json)
        #expect(json["cniVersion"] == .string(version.rawValue))
        #expect(json["interfaces"] == nil)
        switch version.resultShape {
        case .legacy:
            #expect(json["ip4"] == ["ip": "10.1.0.2/24", "gateway": "10.1.0.1", "routes": [["dst": "0.0.0.0/0"]]])
            #expect(json["ip6"] == ["ip": "2001:db8:1::10/64", "gateway": "2001:db8:1::1", "routes": [["dst": "::/0"]]])
        case .v04, .v1:
            var v4 = (["address": "10.1.0.2/24", "gateway": "10.1.0.1"] as JSONValue).objectValue!
            var v6 = (["address": "2001:db8:1::10/64", "gateway": "2001:db8:1::1"] as JSONValue).objectValue!
            if version.resultShape == .v04 { v4["version"] = "4"; v6["version"] = "6" }
            #expect(json["ips"] == .array([.object(v4), .object(v6)]))
            #expect(json["routes"] == [["dst": "0.0.0.0/0"], ["dst": "::/0"]])
        }
        #expect(f.files == ["10.1.0.2": "ctr1\r\neth0", "2001:db8:1::10": "ctr1\r\neth0"])
        #expect(try f.dir.read("net1/last_reserved_ip.0") == "10.1.0.2")
        #expect(try f.dir.read("net1/last_reserved_ip.1") == "2001:db8:1::10")
    }

    @Test func delReleasesEverythingAndSucceedsWhenNothingIsHeld() throws {
        let f = try HostLocalFixture()
        let c = f.conf(ipam: dual)
        #expect(f.call("ADD", c).exitCode == 0)
        #expect(f.call("ADD", c, id: "ctr2").exitCode == 0)
        #expect(f.call("DEL", c).exitCode == 0)
        #expect(f.files == ["10.1.0.3": "ctr2\r\neth0", "2001:db8:1::11": "ctr2\r\neth0"])
        #expect(f.call("DEL", c).exitCode == 0)
        #expect(f.call("DEL", c, id: "never").exitCode == 0)
        // Round-robin: the next ADD does not reuse the address just released.
        #expect(f.call("ADD", c, id: "ctr3").json?["ips"]?.arrayValue?.first?["address"] == "10.1.0.4/24")
    }

    @Test func delStillReleasesWhenTheRangesAreBroken() throws {
        let f = try HostLocalFixture()
        #expect(f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#)).exitCode == 0)
        #expect(f.call("DEL", f.conf(ipam: #""subnet":"10.1.0.1/24""#)).exitCode == 0)
        #expect(f.files.isEmpty)
    }

    @Test func requestedAddressesAndTheirPrecedence() throws {
        let f = try HostLocalFixture()
        // CNI_ARGS IP= (with or without prefix).
        let a = f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#), args: "IgnoreUnknown=1;IP=10.1.0.77;K8S_POD_NAME=x")
        #expect(a.json?["ips"]?.arrayValue?.first?["address"] == "10.1.0.77/24")
        // args.cni.ips and runtimeConfig.ips accumulate: one per range set.
        let both = f.call("ADD", f.conf(ipam: dual, extra: #","args":{"cni":{"ips":["2001:db8:1::99"]}},"runtimeConfig":{"ips":["10.1.0.88/24"]}"#), id: "c2")
        #expect(both.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } == ["10.1.0.88/24", "2001:db8:1::99/64"])
        // Taken: code 111, nothing else held.
        let taken = f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#), id: "c3", args: "IP=10.1.0.77")
        #expect(taken.errorCode == 111)
        #expect(f.files.values.filter { $0.hasPrefix("c3") }.isEmpty)
        // The gateway cannot be requested.
        #expect(f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#), id: "c4", args: "IP=10.1.0.1").errorCode == 111)
        // Unknown CNI_ARGS without IgnoreUnknown: code 4.
        #expect(f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#), id: "c5", args: "K8S_POD_NAME=x").errorCode == 4)
    }

    @Test func runtimeIPRangesArePrepended() throws {
        let f = try HostLocalFixture()
        let out = f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24""#, extra: #","runtimeConfig":{"ipRanges":[[{"subnet":"10.9.0.0/24"}]]}"#))
        #expect(out.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } == ["10.9.0.2/24", "10.1.0.2/24"])
    }

    @Test(arguments: [
        (#""ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.1.0.128/25"}]]"#, "range set 0 overlaps with 1"),
        (#""subnet":"10.1.0.1/24""#, "invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0"),
        (#""subnet":"10.1.0.0/24","rangeStart":"10.2.0.1""#, "invalid range set 0: RangeStart 10.2.0.1 not in network 10.1.0.0/24"),
        (#""subnet":"10.1.0.0/31""#, "invalid range set 0: Network 10.1.0.0/31 too small to allocate from"),
        (#""routes":[]"#, "no IP ranges specified"),
        (#""subnet":"10.1.0.0/24","routes":[{"dst":"nope"}]"#, "invalid ipam.routes[0].dst"),
        (#""ranges":[[]]"#, "invalid range set 0: empty range set"),
        (#""ranges":[[{"subnet":"10.1.0.0/24"},{"subnet":"2001:db8::/64"}]]"#, "invalid range set 0: mixed address families"),
    ])
    func badConfigsAreCodeSevenAndChangeNothing(ipam: String, message: String) throws {
        let f = try HostLocalFixture()
        let out = f.call("ADD", f.conf(ipam: ipam))
        #expect(out.errorCode == 7)
        #expect(out.message == message)
        #expect(f.files.isEmpty)
    }

    @Test func unknownRequestedIPIsCodeSevenAndChangesNothing() throws {
        let f = try HostLocalFixture()
        let out = f.call("ADD", f.conf(ipam: dual), args: "IP=192.168.9.9")
        #expect(out.errorCode == 7)
        #expect(out.message == "failed to allocate all requested IPs: 192.168.9.9")
        #expect(f.files.isEmpty)
        #expect(f.call("ADD", f.conf(ipam: dual), args: "IP=notanip").errorCode == 7)
    }

    @Test func moreThanOneAddressPerFamilyNeedsZeroThree() throws {
        let f = try HostLocalFixture()
        let two = #""ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.2.0.0/24"}]]"#
        #expect(f.call("ADD", f.conf(version: "0.2.0", ipam: two)).message == "CNI version 0.2.0 does not support more than 1 address per family")
        #expect(f.call("ADD", f.conf(version: "0.3.0", ipam: two)).json?["ips"]?.arrayValue?.count == 2)
    }

    @Test func failureInALaterRangeSetReleasesEarlierOnes() throws {
        let f = try HostLocalFixture()
        let c = f.conf(ipam: #""ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.2.0.0/30"}]]"#)
        #expect(f.call("ADD", c, id: "a").exitCode == 0)   // takes the only address of 10.2.0.0/30
        let out = f.call("ADD", c, id: "b")
        #expect(out.errorCode == 110)
        #expect(out.message == "no IP addresses available in range set: 10.2.0.1-10.2.0.2")
        #expect(f.files.keys.sorted() == ["10.1.0.2", "10.2.0.2"])
    }

    @Test func duplicateAllocationIsRefused() throws {
        let f = try HostLocalFixture()
        let c = f.conf(ipam: #""subnet":"10.1.0.0/24""#)
        #expect(f.call("ADD", c).exitCode == 0)
        #expect(f.call("ADD", c).message == "10.1.0.2 has been allocated to ctr1, duplicate allocation is not allowed")
        #expect(f.call("ADD", c, ifName: "net1").exitCode == 0)
    }

    @Test func resolvConfBecomesDNS() throws {
        let f = try HostLocalFixture()
        try f.dir.write("resolv.conf", "# comment\nnameserver 10.0.0.53\nnameserver 10.0.0.54\ndomain example.com\nsearch a.example b.example\noptions ndots:5 edns0\n")
        let out = f.call("ADD", f.conf(ipam: #""subnet":"10.1.0.0/24","resolvConf":"\#(f.dir.file("resolv.conf"))""#))
        #expect(out.json?["dns"] == ["nameservers": ["10.0.0.53", "10.0.0.54"], "domain": "example.com",
                                     "search": ["a.example", "b.example"], "options": ["ndots:5", "edns0"]])
    }

    @Test func checkVerifiesTheReservation() throws {
        let f = try HostLocalFixture()
        let c = f.conf(ipam: dual)
        #expect(f.call("CHECK", c).errorCode == 7)
        let add = f.call("ADD", c)
        #expect(f.call("CHECK", c).exitCode == 0)
        var withPrev = try JSONValue.parse(c).objectValue!
        withPrev["prevResult"] = add.json
        #expect(f.call("CHECK", JSONValue.object(withPrev).serializedString()).exitCode == 0)
        try FileManager.default.removeItem(atPath: f.dir.file("net1/2001:db8:1::10"))
        #expect(f.call("CHECK", c).errorCode == 7)
    }

    @Test func statusReportsFullRangesAndUnusableStores() throws {
        let f = try HostLocalFixture()
        let tiny = f.conf(version: "1.1.0", ipam: #""ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.2.0.0/29","rangeEnd":"10.2.0.3"}]]"#)
        #expect(f.call("STATUS", tiny).exitCode == 0)
        #expect(f.call("ADD", tiny, id: "a").exitCode == 0)
        #expect(f.call("STATUS", tiny).exitCode == 0)
        #expect(f.call("ADD", tiny, id: "b").exitCode == 0)
        let full = f.call("STATUS", tiny)
        #expect(full.errorCode == 50)
        #expect(full.message == "host-local: no IP addresses available in range set 1: 10.2.0.1-10.2.0.3")
        #expect(f.call("DEL", tiny, id: "a").exitCode == 0)
        #expect(f.call("STATUS", tiny).exitCode == 0)
        try f.dir.write("file", "")
        let unusable = #"{"cniVersion":"1.1.0","name":"net1","ipam":{"type":"host-local","subnet":"10.1.0.0/24","dataDir":"\#(f.dir.file("file"))"}}"#
        #expect(PluginCall("STATUS", config: unusable).run(HostLocalPlugin()).errorCode == 50)
    }

    @Test func gcReleasesEveryAttachmentNotValid() throws {
        let f = try HostLocalFixture()
        let c = f.conf(version: "1.1.0", ipam: dual)
        for id in ["a", "b", "c"] { #expect(f.call("ADD", c, id: id).exitCode == 0) }
        #expect(f.call("ADD", c, id: "a", ifName: "net1").exitCode == 0)
        var gc = try JSONValue.parse(c).objectValue!
        gc["cni.dev/valid-attachments"] = [["containerID": "a", "ifname": "eth0"], ["containerID": "c", "ifname": "eth0"]]
        let out = PluginCall("GC", config: JSONValue.object(gc).serializedString()).run(HostLocalPlugin())
        #expect(out.exitCode == 0, "\(out.text)")
        #expect(Set(f.files.values) == ["a\r\neth0", "c\r\neth0"])
        #expect(f.files.count == 4)
        gc["cni.dev/valid-attachments"] = nil
        #expect(PluginCall("GC", config: JSONValue.object(gc).serializedString()).run(HostLocalPlugin()).errorCode == 7)
    }
}
