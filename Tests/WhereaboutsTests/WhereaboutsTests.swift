import CNI
import Foundation
import IPAM
import IPAddressing
import PluginKit
import Testing
import TestSupport
@testable import Whereabouts
@testable import WhereaboutsCluster

func range(_ cidr: String, start: String? = nil, end: String? = nil, exclude: [String] = [], gateway: String? = nil) throws -> PoolRange {
    try PoolRange(subnet: IPPrefix(cidr)!, rangeStart: start.flatMap { IPAddress($0) }, rangeEnd: end.flatMap { IPAddress($0) },
                  excluded: exclude.map { IPPrefix($0)! }, gateway: gateway.flatMap { IPAddress($0) })
}

@Suite struct PoolRangeTests {
    @Test func usableAddressesNarrowedByStartAndEnd() throws {
        let r = try range("10.0.0.0/24")
        #expect(r.first == IPAddress("10.0.0.1") && r.last == IPAddress("10.0.0.254"))
        let n = try range("10.0.0.0/24", start: "10.0.0.10", end: "10.0.0.20")
        #expect(n.first == IPAddress("10.0.0.10") && n.last == IPAddress("10.0.0.20") && n.capacity == 11)
        // Out of the subnet: ignored, as upstream.
        let o = try range("10.0.0.0/24", start: "10.9.0.10", end: "10.0.0.255")
        #expect(o.first == IPAddress("10.0.0.1") && o.last == IPAddress("10.0.0.254"))
        // Host bits: normalized to the network, as upstream.
        #expect(try range("10.0.0.77/24").cidr == "10.0.0.0/24")
        #expect(throws: IPAMError.self) { try range("10.0.0.0/31") }
    }

    @Test func theGatewayNetworkAndBroadcastAreNeverHandedOut() throws {
        let r = try range("10.0.0.0/30", gateway: "10.0.0.1")
        #expect(r.capacity == 1)
        #expect(r.firstFree(taken: []) == IPAddress("10.0.0.2"))
        #expect(r.firstFree(taken: [2]) == nil)
        let v6 = try range("fd00::/126")
        #expect(v6.first == IPAddress("fd00::1") && v6.last == IPAddress("fd00::2"))
    }

    @Test func excludedSubnetsAreSkippedInOneStep() throws {
        let r = try range("10.0.0.0/16", exclude: ["10.0.0.0/17", "10.0.128.1/32", "10.0.128.2/31"])
        // 10.0.128.0 is an ordinary address of the /16.
        #expect(r.firstFree(taken: []) == IPAddress("10.0.128.0"))
        #expect(r.firstFree(taken: [32768]) == IPAddress("10.0.128.4"))
        #expect(r.capacity == 65534 - 32767 - 3)
        let all = try range("10.0.0.0/24", exclude: ["10.0.0.0/24"])
        #expect(all.firstFree(taken: []) == nil && all.capacity == 0)
    }

    @Test func largeIPv6RangesUseFullOffsets() throws {
        let r = try range("fd00:1::/64")
        #expect(r.offset(of: IPAddress("fd00:1::ffff:ffff:ffff:fffe")!) == (UInt128(1) << 64) - 2)
        #expect(r.address(at: (UInt128(1) << 64) - 2) == IPAddress("fd00:1::ffff:ffff:ffff:fffe"))
        #expect(r.firstFree(taken: [1, 2, 3]) == IPAddress("fd00:1::4"))
        let wide = try range("fd00::/8")
        #expect(wide.capacity == (UInt128(1) << 120) - 2)
    }

    @Test func namesAreUpstreams() throws {
        #expect(try range("10.1.0.0/16").poolName(networkName: "") == "10.1.0.0-16")
        #expect(try range("fd00::/64").poolName(networkName: "blue") == "blue-fd00---64")
        #expect(PoolRange.reservationName(IPAddress("fd00::")!, networkName: "") == "fd00--0")
        #expect(PoolRange.reservationName(IPAddress("10.1.0.5")!, networkName: "blue") == "blue-10.1.0.5")
    }
}

@Suite struct WhereaboutsConfigTests {
    func config(_ ipam: String, args: String = "", version: String = "1.0.0", flat: [String] = []) throws -> WhereaboutsConfig {
        try WhereaboutsConfig(NetConf(bytes: Array(#"{"cniVersion":"\#(version)","name":"n","type":"macvlan","ipam":{"type":"whereabouts",\#(ipam)}}"#.utf8)),
                              args: CNIArgs(parsing: args), version: CNIVersion(rawValue: version)!, flatFiles: flat)
    }

    @Test func everyKey() throws {
        let c = try config(#""range":"10.1.0.0/24","range_start":"10.1.0.10","range_end":"10.1.0.20","exclude":["10.1.0.12/30","10.1.0.11"],"gateway":"10.1.0.1","routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.1.0.53"]},"addresses":[{"address":"192.168.9.9/24","gateway":"192.168.9.1"}],"network_name":"blue","enable_overlapping_ranges":false,"log_file":"/tmp/wb.log","log_level":"debug","ipRanges":[{"range":"fd00::/64","exclude":["fd00::1"]}]"#,
                           args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1;IP=172.16.0.5/16;GATEWAY=172.16.0.1")
        #expect(c.ranges.map(\.cidr) == ["10.1.0.0/24", "fd00::/64"])
        #expect(c.ranges[0].first == IPAddress("10.1.0.10") && c.ranges[0].last == IPAddress("10.1.0.20"))
        #expect(c.ranges[0].excluded.map(\.description) == ["10.1.0.12/30", "10.1.0.11/32"])
        #expect(c.ranges[0].gateway == IPAddress("10.1.0.1") && c.ranges[1].gateway == nil)
        #expect(c.ranges[1].firstFree(taken: []) == IPAddress("fd00::2"))
        #expect(c.routes.count == 1 && c.dns.nameservers == ["10.1.0.53"])
        #expect(c.addresses.map(\.address.description) == ["192.168.9.9/24", "172.16.0.5/16"])
        #expect(c.addresses.map(\.gateway) == [IPAddress("192.168.9.1"), IPAddress("172.16.0.1")])
        #expect(c.networkName == "blue" && !c.overlappingRanges && c.podRef == "ns1/pod1")
        #expect(c.logFile == "/tmp/wb.log" && c.logLevel == "debug" && c.datastore == .file)
        #expect(c.dataDir == WhereaboutsConfig.defaultDataDir)
    }

    @Test func startEndSlashPrefixAndCamelCase() throws {
        let c = try config(#""range":"10.2.0.50-10.2.0.60/24""#)
        #expect(c.ranges[0].cidr == "10.2.0.0/24" && c.ranges[0].first == IPAddress("10.2.0.50") && c.ranges[0].last == IPAddress("10.2.0.60"))
        let camel = try config(#""range":"10.2.0.0/24","rangeStart":"10.2.0.100","rangeEnd":"10.2.0.110""#)
        #expect(camel.ranges[0].first == IPAddress("10.2.0.100") && camel.ranges[0].last == IPAddress("10.2.0.110"))
        #expect(try config(#""range":"10.2.0.0/24""#).overlappingRanges)
    }

    @Test func datastoreChoice() throws {
        #expect(try config(#""range":"10.2.0.0/24","kubernetes":{"kubeconfig":"/k"}"#).datastore == .kubernetes(kubeconfig: "/k"))
        #expect(try config(#""range":"10.2.0.0/24","datastore":"file","kubernetes":{"kubeconfig":"/k"}"#).datastore == .file)
        let e = try config(#""range":"10.2.0.0/24","datastore":"etcd","etcd_host":"127.0.0.1:2379, 127.0.0.2:2379","etcd_username":"u","etcd_password":"p","etcd_ca_cert_file":"/ca"}"#.dropLast() + "")
        #expect(e.datastore == .etcd(.init(endpoints: ["127.0.0.1:2379", "127.0.0.2:2379"], username: "u", password: "p",
                                            keyFile: nil, certFile: nil, caCertFile: "/ca")))
    }

    @Test func theFlatFileFillsOnlyWhatTheConfigLeavesOut() throws {
        let dir = try TemporaryDirectory("swcni-wb")
        defer { dir.remove() }
        try dir.write("whereabouts.conf", #"{"datastore":"kubernetes","kubernetes":{"kubeconfig":"/flat"},"range":"10.9.0.0/16","gateway":"10.3.0.1","log_level":"debug"}"#)
        let c = try config(#""range":"10.3.0.0/24","configuration_path":"\#(dir.file("whereabouts.conf"))""#)
        #expect(c.ranges.map(\.cidr) == ["10.3.0.0/24"] && c.gateway == IPAddress("10.3.0.1"))
        #expect(c.datastore == .kubernetes(kubeconfig: "/flat") && c.flatFile == dir.file("whereabouts.conf"))
        // Optional: no flat file at all is fine.
        #expect(try config(#""range":"10.3.0.0/24""#, flat: [dir.file("missing")]).flatFile == nil)
    }

    @Test(arguments: [#""range":"10.0.0.0/33""#, #""range":"nonsense""#, #""ipRanges":[]"#, #""range":"10.0.0.0/24","exclude":["x"]"#,
                      #""range":"10.0.0.0/24","datastore":"redis""#, #""range":"10.0.0.0/24","network_name":"../x""#,
                      #""range":"10.0.0.0/24","datastore":"etcd""#, #""range":"10.0.0.0/24","ipRanges":[{"range":"10.0.0.0/24"}]"#,
                      #""range":"10.0.0.9-10.1.0.20/24""#, #""range":"10.0.0.0/24","range_start":5"#])
    func invalid(ipam: String) {
        #expect((#expect(throws: CNIError.self) { try config(ipam) })?.code == 7)
    }

    @Test func oldVersionsTakeOneAddressPerFamily() throws {
        let e = #expect(throws: CNIError.self) { try config(#""range":"10.0.0.0/24","ipRanges":[{"range":"10.1.0.0/24"}]"#, version: "0.2.0") }
        #expect(e?.code == 7)
    }
}

@Suite struct PoolDecisionTests {
    let r = try! range("10.0.0.0/29", gateway: "10.0.0.1")
    let a = IPAllocation(containerID: "c1", podRef: "ns/p1", ifName: "net1")

    @Test func lowestFreeThenTheSameAgainForTheSamePod() throws {
        var doc = PoolDocument(range: r.cidr)
        let (ip, existing) = try PoolDecision.allocate(&doc, range: r, owner: a, heldElsewhere: [])
        #expect(ip == IPAddress("10.0.0.2") && !existing && doc.allocations == [2: a])
        // A new sandbox of the same pod (new container ID): the same address, the record updated.
        let again = IPAllocation(containerID: "c2", podRef: "ns/p1", ifName: "net1")
        #expect(try PoolDecision.allocate(&doc, range: r, owner: again, heldElsewhere: []) == (IPAddress("10.0.0.2")!, true))
        #expect(doc.allocations == [2: again])
        // Held in an overlapping range: skipped.
        let b = IPAllocation(containerID: "c3", podRef: "ns/p3", ifName: "net1")
        #expect(try PoolDecision.allocate(&doc, range: r, owner: b, heldElsewhere: [3]).ip == IPAddress("10.0.0.4"))
    }

    @Test func exhaustedIs110AndReleaseMatchesContainerAndInterface() throws {
        var doc = PoolDocument(range: r.cidr)
        for i in 0..<5 { _ = try PoolDecision.allocate(&doc, range: r, owner: .init(containerID: "c\(i)", podRef: "ns/q\(i)", ifName: "net1"), heldElsewhere: []) }
        #expect(Set(doc.allocations.keys) == [2, 3, 4, 5, 6])
        let e = #expect(throws: IPAMError.self) { try PoolDecision.allocate(&doc, range: r, owner: a, heldElsewhere: []) }
        #expect(e?.cniError.code == 110)
        #expect(PoolDecision.release(&doc, range: r, containerID: "c3", ifName: "eth0").isEmpty)
        #expect(PoolDecision.release(&doc, range: r, containerID: "c3", ifName: "net1").map(\.0) == [IPAddress("10.0.0.5")!])
        #expect(doc.allocations[5] == nil && doc.allocations.count == 4)
    }

    /// A mostly held pool is searched through bits of its offsets: the same address as a probe of
    /// every offset, with the gateway, exclusions, addresses held elsewhere, records above the
    /// range (its end moved down) and random starts.
    @Test func aMostlyHeldPoolFindsWhatAProbeOfEveryAddressFinds() throws {
        // range_end at offset 918: the bits' 15 words end at 959, so records at 1000 and 1020
        // (beyond range_end) would fall outside them.
        let g = try range("10.0.0.0/22", end: "10.0.3.150", exclude: ["10.0.1.0/28"], gateway: "10.0.0.1")
        var rng = SystemRandomNumberGenerator()
        for round in 0..<30 {
            var held: [UInt128: IPAllocation] = [1000: a, 1020: a]   // beyond range_end: no candidates
            for off in UInt128(1)...UInt128(918) where UInt128.random(in: 0..<1000, using: &rng) >= (round < 15 ? 3 : 20) { held[off] = a }
            // Held elsewhere: the pool's own lowest free address (it must be skipped) and a random one.
            var elsewhere: Set<UInt128> = [UInt128.random(in: 1...918, using: &rng)]
            if let lowest = g.firstFree(taken: Set(held.keys)), let off = g.offset(of: lowest) { elsewhere.insert(off) }
            let doc = PoolDocument(range: g.cidr, allocations: held)
            #expect(held.count >= 256 && PoolDecision.heldBits(doc, range: g, heldElsewhere: elsewhere) != nil)
            let probe = g.firstFree(taken: Set(held.keys).union(elsewhere))
            var d1 = doc
            let owner = IPAllocation(containerID: "n", podRef: "ns/n", ifName: "net1")
            if let probe {
                #expect(try PoolDecision.allocate(&d1, range: g, owner: owner, heldElsewhere: elsewhere).ip == probe)
                var d2 = doc
                let r = try PoolDecision.allocate(&d2, range: g, owner: owner, heldElsewhere: elsewhere, randomStart: true).ip
                let off = try #require(g.offset(of: r))
                #expect(held[off] == nil && !elsewhere.contains(off) && g.isAllocatable(r) && r != g.gateway)
            } else {
                #expect(throws: IPAMError.self) { try PoolDecision.allocate(&d1, range: g, owner: owner, heldElsewhere: elsewhere) }
            }
        }
        // Sparse or small: no bits.
        #expect(PoolDecision.heldBits(PoolDocument(range: g.cidr, allocations: [2: a]), range: g, heldElsewhere: []) == nil)
        let wide = try range("10.0.0.0/8")
        let few = PoolDocument(range: wide.cidr, allocations: Dictionary(uniqueKeysWithValues: (UInt128(1)...300).map { ($0, a) }))
        #expect(PoolDecision.heldBits(few, range: wide, heldElsewhere: []) == nil)
    }

    @Test func aPreferredAddressOnlyWhenAllocatableAndARandomStartWrapsAround() throws {
        // .1 is the gateway, .4 excluded: preferring either gives the lowest free (.2).
        let g = try range("10.0.0.0/29", exclude: ["10.0.0.4/32"], gateway: "10.0.0.1")
        for preferred: UInt128 in [1, 4, 0, 7, 99] {
            var doc = PoolDocument(range: g.cidr)
            #expect(try PoolDecision.allocate(&doc, range: g, owner: a, heldElsewhere: [], preferring: preferred).ip == IPAddress("10.0.0.2"))
        }
        var doc = PoolDocument(range: g.cidr)
        #expect(try PoolDecision.allocate(&doc, range: g, owner: a, heldElsewhere: [], preferring: 5).ip == IPAddress("10.0.0.5"))
        // Only .2 free (.3, .5, .6 held, .4 excluded): found from any random start, by wrapping.
        for _ in 0..<20 {
            var full = PoolDocument(range: g.cidr, allocations: [3: a, 5: a, 6: a])
            #expect(try PoolDecision.allocate(&full, range: g, owner: .init(containerID: "x", podRef: "ns/x", ifName: "net1"),
                                              heldElsewhere: [], randomStart: true).ip == IPAddress("10.0.0.2"))
        }
    }

    @Test func onlyWhatChangedIsWrittenBack() throws {
        let b = IPAllocation(containerID: "c2", podRef: "ns/p2", ifName: "net1")
        let c = IPAllocation(containerID: "c3", podRef: "ns/p3", ifName: "net1")
        let old = PoolDocument(range: r.cidr, allocations: [2: a, 3: b])
        var doc = old
        doc[2] = a            // set to what it was
        doc[4] = c; doc[4] = nil
        #expect(doc.patch().isEmpty && doc == old && doc.changes().isEmpty)
        doc[3] = nil
        doc[5] = c
        doc[2] = b
        // What each touched offset held when the document was made, and holds now.
        #expect(doc.changes().map(\.offset) == [2, 3, 5] && doc.changes().map(\.was) == [a, b, nil] && doc.changes().map(\.now) == [b, nil, c])
        var back = old
        back[3] = c; back[3] = b   // b is what 3 held first: back where it was
        #expect(back.changes().isEmpty)
        #expect(doc.patch().map { $0["op"]?.stringValue } == ["replace", "add", "remove"])
        #expect(doc.allocations == [2: b, 5: c])
    }

    @Test func specAndPatchAreUpstreamsShape() throws {
        var reader = JSONCursor(Array(#"{"range":"10.0.0.0/29","allocations":{"2":{"id":"c1","podref":"ns/p1","ifname":"net1"},"x":{}}}"#.utf8))
        let old = try PoolDocument.read(spec: &reader).doc
        #expect(old.allocations == [2: a])
        var new = old
        new[2] = nil
        new[3] = IPAllocation(containerID: "c9", podRef: "ns/p9", ifName: "eth0")
        #expect(new.patch() == [["op": "add", "path": "/spec/allocations/3", "value": ["id": "c9", "podref": "ns/p9", "ifname": "eth0"]],
                                         ["op": "remove", "path": "/spec/allocations/2"]])
        #expect(new.specJSON == ["range": "10.0.0.0/29", "allocations": ["3": ["id": "c9", "podref": "ns/p9", "ifname": "eth0"]]])
    }
}

/// whereabouts through the skeleton on the embedded file store, in a temporary data directory.
final class FileStoreFixture {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory("swcni-wb") }
    deinit { dir.remove() }

    func conf(_ ipam: String, name: String = "net1", version: String = "1.0.0") -> String {
        #"{"cniVersion":"\#(version)","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","dataDir":"\#(dir.path)",\#(ipam)}}"#
    }

    func call(_ cmd: String, _ conf: String, id: String = "ctr1", ifName: String = "net1", pod: String? = "pod1") -> Skeleton.Output {
        let args = pod.map { "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=\($0)" } ?? ""
        return PluginCall(cmd, config: conf, containerID: id, ifName: ifName, args: args).run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
    }

    func addresses(_ out: Skeleton.Output) -> [String] {
        out.json?["ips"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? []
    }

    /// The pool's allocations as "offset\tcontainerID\tpodRef\tifName", by offset (its journal replayed).
    func pool(_ name: String) -> [String] { Self.replay((try? dir.read("pools/" + name)) ?? "") }

    static func replay(_ text: String) -> [String] {
        var held: [Int: String] = [:]
        let complete = text.lastIndex(of: "\n").map { text[...$0] } ?? ""
        for line in complete.split(separator: "\n").dropFirst() {
            let f = line.dropFirst().split(separator: "\t", omittingEmptySubsequences: false)
            guard let off = Int(f[0]), line.first == "-" || f.count == 5 else { continue }
            held[off] = line.first == "+" ? f.dropLast().joined(separator: "\t") : nil
        }
        return held.sorted { $0.key < $1.key }.map(\.value)
    }
}

@Suite struct WhereaboutsFileStoreTests {
    let dual = #""range":"10.5.0.0/29","gateway":"10.5.0.1","routes":[{"dst":"0.0.0.0/0"}],"ipRanges":[{"range":"fd05::/120"}]"#

    @Test func addGivesOneAddressPerRangeWithTheGatewayOfItsSubnet() throws {
        let f = try FileStoreFixture()
        let out = f.call("ADD", f.conf(dual))
        try #require(out.exitCode == 0, "\(out.text)")
        #expect(out.json?["ips"] == [["address": "10.5.0.2/29", "gateway": "10.5.0.1"], ["address": "fd05::1/120"]])
        #expect(out.json?["routes"] == [["dst": "0.0.0.0/0"]])
        #expect(f.pool("10.5.0.0-29") == ["2\tctr1\tns1/pod1\tnet1"])
        #expect(f.pool("fd05---120") == ["1\tctr1\tns1/pod1\tnet1"])
        // Overlapping-range reservations, one per address.
        #expect(try f.dir.read("reservations/10.5.0.2") == "ns1/pod1\tnet1")
        #expect(try f.dir.read("reservations/fd05--1") == "ns1/pod1\tnet1")
    }

    @Test func samePodAndInterfaceGetsItsAddressBackAndDelReleasesEveryRange() throws {
        let f = try FileStoreFixture()
        let c = f.conf(dual)
        #expect(f.addresses(f.call("ADD", c)) == ["10.5.0.2/29", "fd05::1/120"])
        #expect(f.addresses(f.call("ADD", c, id: "ctr2", pod: "pod2")) == ["10.5.0.3/29", "fd05::2/120"])
        // The pod's new sandbox: the same addresses, now recorded for the new container.
        #expect(f.addresses(f.call("ADD", c, id: "ctr1b")) == ["10.5.0.2/29", "fd05::1/120"])
        #expect(f.pool("10.5.0.0-29") == ["2\tctr1b\tns1/pod1\tnet1", "3\tctr2\tns1/pod2\tnet1"])
        // The old sandbox's late DEL frees nothing of the new one.
        #expect(f.call("DEL", c, id: "ctr1").exitCode == 0)
        #expect(f.pool("10.5.0.0-29").count == 2)
        // The v4 pool has lost ctr2's record (by hand): DEL still releases the v6 one (upstream stops at the first miss).
        try f.dir.write("pools/10.5.0.0-29", "swift-cni whereabouts pool v1 10.5.0.0/29\n+2\tctr1b\tns1/pod1\tnet1\t0\n")
        #expect(f.call("DEL", c, id: "ctr2", pod: "pod2").exitCode == 0)
        #expect(f.pool("fd05---120") == ["1\tctr1b\tns1/pod1\tnet1"])
        #expect(!f.dir.exists("reservations/fd05--2"))
        #expect(f.call("DEL", c, id: "ctr1b").exitCode == 0)
        #expect(f.pool("10.5.0.0-29").isEmpty && f.pool("fd05---120").isEmpty)
        // Only the reservation of the record removed by hand is left (reconcile's work).
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.file("reservations")) == ["10.5.0.3"])
        #expect(f.call("DEL", c, id: "never").exitCode == 0)
    }

    @Test func gatewayIsNeverHandedOutAndAFullRangeIs110() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.6.0.0/29","gateway":"10.6.0.1""#, version: "1.1.0")
        var got: [String] = []
        for i in 0..<5 { got += f.addresses(f.call("ADD", c, id: "c\(i)", pod: "p\(i)")) }
        #expect(got == ["10.6.0.2/29", "10.6.0.3/29", "10.6.0.4/29", "10.6.0.5/29", "10.6.0.6/29"])
        let full = f.call("ADD", c, id: "c9", pod: "p9")
        #expect(full.errorCode == 110)
        #expect(f.call("STATUS", c).errorCode == 51)
        #expect(f.call("DEL", c, id: "c3", pod: "p3").exitCode == 0)
        #expect(f.call("STATUS", c).exitCode == 0)
        #expect(f.addresses(f.call("ADD", c, id: "c9", pod: "p9")) == ["10.6.0.5/29"])
    }

    @Test func overlappingRangesAcrossTwoNetworksNeverShareAnAddress() throws {
        let f = try FileStoreFixture()
        let a = f.conf(#""range":"10.7.0.0/24""#, name: "a")
        let b = f.conf(#""range":"10.7.0.0/25","range_start":"10.7.0.1""#, name: "b")
        #expect(f.addresses(f.call("ADD", a, id: "c1", pod: "p1")) == ["10.7.0.1/24"])
        #expect(f.addresses(f.call("ADD", b, id: "c2", pod: "p2")) == ["10.7.0.2/25"])
        #expect(f.addresses(f.call("ADD", a, id: "c3", pod: "p3")) == ["10.7.0.3/24"])
        // Turned off: an independent pool may hand out what the other holds.
        let off = f.conf(#""range":"10.7.0.0/26","enable_overlapping_ranges":false"#, name: "c")
        #expect(f.addresses(f.call("ADD", off, id: "c4", pod: "p4")) == ["10.7.0.1/26"])
    }

    @Test func networkNameGivesIndependentPoolsForOneCIDR() throws {
        let f = try FileStoreFixture()
        let blue = f.conf(#""range":"10.8.0.0/24","network_name":"blue""#, name: "x")
        let red = f.conf(#""range":"10.8.0.0/24","network_name":"red""#, name: "y")
        #expect(f.addresses(f.call("ADD", blue, id: "c1", pod: "p1")) == ["10.8.0.1/24"])
        #expect(f.addresses(f.call("ADD", red, id: "c2", pod: "p2")) == ["10.8.0.1/24"])
        #expect(f.pool("blue-10.8.0.0-24").count == 1 && f.pool("red-10.8.0.0-24").count == 1)
        #expect(f.dir.exists("reservations/blue-10.8.0.1") && f.dir.exists("reservations/red-10.8.0.1"))
    }

    @Test func checkNeedsTheReservationOfThisContainer() throws {
        let f = try FileStoreFixture()
        let c = f.conf(dual)
        #expect(f.call("CHECK", c).errorCode == 7)
        let add = f.call("ADD", c)
        let prev = #","prevResult":\#(add.text)}"#
        let withPrev = String(c.dropLast()) + prev
        #expect(f.call("CHECK", withPrev).exitCode == 0)
        #expect(f.call("CHECK", withPrev, id: "other").errorCode == 7)
        let wrongPrev = String(c.dropLast()) + #","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.5.0.6/29"}]}}"#
        #expect(f.call("CHECK", wrongPrev).errorCode == 7)
    }

    @Test func gcReleasesWhatNoValidAttachmentHolds() throws {
        let f = try FileStoreFixture()
        let c = f.conf(dual, version: "1.1.0")
        for i in 0..<3 { #expect(f.call("ADD", c, id: "c\(i)", pod: "p\(i)").exitCode == 0) }
        let gc = String(c.dropLast()) + #","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}]}"#
        #expect(f.call("GC", gc).exitCode == 0)
        #expect(f.pool("10.5.0.0-29") == ["3\tc1\tns1/p1\tnet1"])
        #expect(f.pool("fd05---120") == ["2\tc1\tns1/p1\tnet1"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.file("reservations")).sorted() == ["10.5.0.3", "fd05--2"])
    }

    @Test func staticAddressesComeAfterThePoolsAndAreNotStored() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.9.0.0/24","addresses":[{"address":"192.168.1.5/24","gateway":"192.168.1.1"}]"#)
        let out = PluginCall("ADD", config: c, containerID: "c1", ifName: "net1",
                             args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;IP=172.16.1.5/16;GATEWAY=172.16.0.1")
            .run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
        #expect(out.json?["ips"] == [["address": "10.9.0.1/24"], ["address": "192.168.1.5/24", "gateway": "192.168.1.1"],
                                     ["address": "172.16.1.5/16", "gateway": "172.16.0.1"]])
        #expect(f.pool("10.9.0.0-24").count == 1)
    }

    @Test func theJournalIsCompactedAndAKilledWritersHalfLineIsCutOff() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.12.0.0/24""#)
        for i in 0..<40 {
            #expect(f.call("ADD", c, id: "c\(i)", pod: "p\(i)").exitCode == 0)
            if i >= 2 { #expect(f.call("DEL", c, id: "c\(i)", pod: "p\(i)").exitCode == 0) }
        }
        // 2 live allocations: the journal was rewritten whenever it outgrew 2 × 2 + 64 lines.
        let lines = try f.dir.read("pools/10.12.0.0-24").split(separator: "\n")
        #expect(lines.count <= 1 + 2 * 2 + 64 + 1 && f.pool("10.12.0.0-24").count == 2)
        // A writer killed mid-line: readers ignore the half line, the next writer replaces it.
        let path = f.dir.file("pools/10.12.0.0-24")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("+77\tdead".utf8))
        try handle.close()
        #expect(f.addresses(f.call("ADD", c, id: "n1", pod: "n1")) == ["10.12.0.3/24"])
        #expect(!(try f.dir.read("pools/10.12.0.0-24")).contains("dead"))
        #expect(f.pool("10.12.0.0-24").count == 3)
        // What a power loss can leave where appends were not yet written (zeros on some
        // filesystems) is such a tail too; an ADD or DEL appends one line, whatever the pool holds.
        let before = try f.dir.read("pools/10.12.0.0-24")
        let tail = try #require(FileHandle(forWritingAtPath: path))
        tail.seekToEndOfFile()
        tail.write(Data(repeating: 0, count: 300))
        try tail.close()
        #expect(f.addresses(f.call("ADD", c, id: "n2", pod: "n2")) == ["10.12.0.4/24"])
        let after = try f.dir.read("pools/10.12.0.0-24")
        #expect(after.hasPrefix(before) && after.dropFirst(before.count).split(separator: "\n").count == 1 && !after.contains("\0"))
        #expect(f.call("DEL", c, id: "n2", pod: "n2").exitCode == 0)
        #expect(try f.dir.read("pools/10.12.0.0-24") == after + "-4\n")
        // Zeros with complete lines after them: the journal ends at the zeros.
        try f.dir.write("pools/10.12.0.0-24", after + String(repeating: "\0", count: 10) + "+9\tz\tns/z\tnet1\t1\n")
        #expect(f.call("ADD", c, id: "n3", pod: "n3").exitCode == 0)
        #expect(try f.dir.read("pools/10.12.0.0-24").hasPrefix(after) && !(try f.dir.read("pools/10.12.0.0-24")).contains("\tz\t"))
        // A pool whose very first write was torn (part of the header, no newline): rewritten whole.
        let d = f.conf(#""range":"10.13.0.0/24""#)
        try f.dir.write("pools/10.13.0.0-24", "swift-cni where")
        #expect(f.addresses(f.call("ADD", d, id: "t1", pod: "t1")) == ["10.13.0.1/24"])
        #expect(try f.dir.read("pools/10.13.0.0-24").hasPrefix("swift-cni whereabouts pool v1 10.13.0.0/24\n+1\t"))
        #expect(f.addresses(f.call("ADD", d, id: "t2", pod: "t2")) == ["10.13.0.2/24"])
    }

    @Test func aCorruptPoolFileIsAnErrorNotAnEmptyPool() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.10.0.0/24""#)
        try f.dir.write("pools/10.10.0.0-24", "something else\n")
        #expect(f.call("ADD", c).errorCode == 101)
        #expect(try f.dir.read("pools/10.10.0.0-24") == "something else\n")
    }

    @Test func unsafeOwnersAreRefused() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.11.0.0/24""#)
        #expect(f.call("ADD", c, pod: "a\tb").errorCode == 4)
        #expect(f.call("ADD", f.conf(#""range":"10.11.0.0/24","network_name":"../../etc""#)).errorCode == 7)
        #expect(!f.dir.exists("pools/10.11.0.0-24"))
    }
}

@Suite struct WhereaboutsConfExampleTests {
    static let confDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Conf").path

    func example(_ file: String) throws -> JSONObject {
        try JSONValue.parse(Array(FileManager.default.contents(atPath: Self.confDir + "/" + file)!)).objectValue!
    }

    @Test func dualStackExampleAllocatesOnTheFileStore() throws {
        let d = try TemporaryDirectory("swcni-wbconf")
        defer { d.remove() }
        var conf = try example("whereabouts-dual-stack.json")
        var ipam = conf["ipam"]!.objectValue!
        ipam["dataDir"] = .string(d.path)
        conf["ipam"] = .object(ipam)
        let out = PluginCall("ADD", config: JSONValue.object(conf).serializedString(), args: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p")
            .run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
        #expect(out.json?["ips"] == [["address": "192.168.10.10/24", "gateway": "192.168.10.1"], ["address": "abcd::1/64"]], "\(out.text)")
        #expect(d.exists("pools/tenant-a-192.168.10.0-24"))
    }

    @Test func kubernetesAndEtcdExamplesRead() throws {
        let k = try WhereaboutsConfig(NetConf(json: .object(example("whereabouts-kubernetes.json"))), args: CNIArgs(), version: .v0_3_1, flatFiles: [])
        #expect(k.datastore == .kubernetes(kubeconfig: "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"))
        #expect(k.ranges[0].cidr == "192.168.2.224/28" && k.ranges[0].firstFree(taken: [1, 2, 3]) == IPAddress("192.168.2.232"))
        let e = try WhereaboutsConfig(NetConf(json: .object(example("whereabouts-etcd.conf"))), args: CNIArgs(), version: .v0_4_0, flatFiles: [])
        guard case .etcd(let s) = e.datastore else { Issue.record("not etcd"); return }
        #expect(s.endpoints.count == 3 && s.caCertFile == "/etc/whereabouts/etcd-ca.pem" && s.keyFile != nil)
    }
}
