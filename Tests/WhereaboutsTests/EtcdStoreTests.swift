import CNI
import Foundation
import IPAddressing
import PluginKit
import Testing
import TestSupport
@testable import Whereabouts
@testable import WhereaboutsCluster

/// The etcd datastore against a real etcd on loopback.
final class EtcdFixture {
    let etcd: EtcdServer
    let local: TemporaryDirectory
    init(tls: Bool = false) throws {
        etcd = try EtcdServer(tls: tls)
        local = try TemporaryDirectory("swcni-wbe")
    }
    deinit { local.remove() }

    func conf(_ ipam: String, name: String = "net1", extra: String = "") -> String {
        #"{"cniVersion":"1.1.0","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","datastore":"etcd","etcd_host":"\#(etcd.endpoints)"\#(extra),"dataDir":"\#(local.path)",\#(ipam)}}"#
    }

    func call(_ cmd: String, _ conf: String, id: String = "ctr1", ifName: String = "net1", pod: String = "pod1") -> Skeleton.Output {
        PluginCall(cmd, config: conf, containerID: id, ifName: ifName, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=\(pod)")
            .run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
    }

    func address(_ out: Skeleton.Output) -> String? { out.json?["ips"]?.arrayValue?.first?["address"]?.stringValue }
}

@Suite(.serialized, .enabled(if: EtcdServer.isAvailable)) struct EtcdStoreTests {
    @Test func addDelCheckAndTheKeysLeftBehind() throws {
        let f = try EtcdFixture()
        let c = f.conf(#""range":"10.40.0.0/24","gateway":"10.40.0.1","ipRanges":[{"range":"fd40::/64"}]"#)
        let out = f.call("ADD", c)
        try #require(out.exitCode == 0, "\(out.text)")
        #expect(out.json?["ips"] == [["address": "10.40.0.2/24", "gateway": "10.40.0.1"], ["address": "fd40::1/64"]])
        #expect(f.address(f.call("ADD", c, id: "ctr2", pod: "pod2")) == "10.40.0.3/24")
        // The same pod again (a new sandbox): its address back.
        #expect(f.address(f.call("ADD", c, id: "ctr1b")) == "10.40.0.2/24")
        #expect(f.call("CHECK", c, id: "ctr1b").exitCode == 0)
        #expect(f.call("CHECK", c, id: "ctr1").errorCode == 7)
        // The old sandbox's DEL frees nothing of the new one's.
        #expect(f.call("DEL", c, id: "ctr1").exitCode == 0)
        #expect(f.call("CHECK", c, id: "ctr1b").exitCode == 0)
        #expect(f.call("DEL", c, id: "ctr1b").exitCode == 0)
        #expect(f.call("DEL", c, id: "ctr2", pod: "pod2").exitCode == 0)
        #expect(f.call("DEL", c, id: "ctr2", pod: "pod2").exitCode == 0)
        // Nothing but the (cleared) bitmap chunks is left.
        let keys = try f.etcd.keys(prefix: "/swift-cni/")
        #expect(keys.allSatisfy { $0.contains("/chunk/") }, "\(keys)")
        #expect(f.address(f.call("ADD", c, id: "ctr3", pod: "pod3")) == "10.40.0.2/24")
    }

    /// A writer whose read another writer overtook: its transaction loses and reads the chunk as
    /// it is now, and the next attempt wins with that — two requests, no second read of the pool.
    @Test func aLostTransactionIsTriedAgainWithWhatItRead() throws {
        let f = try EtcdFixture()
        let store = try EtcdStore(.init(endpoints: f.etcd.endpoints.split(separator: ",").map(String.init)))
        let pool = PoolRef(range: try range("10.46.0.0/24"), networkName: "", overlapping: true)
        func owner(_ n: Int) -> IPAllocation { IPAllocation(containerID: "c\(n)", podRef: "ns1/p\(n)", ifName: "net1") }
        #expect(try store.allocate(owner(0), in: pool) == IPAddress("10.46.0.1"))
        var before = store.client.requests
        // Its view: the pool as it was before p0's ADD (no chunk yet).
        let second = try store.allocate(owner(1), in: pool, view: [:])
        #expect(second != IPAddress("10.46.0.1") && store.client.requests - before == 2)
        let held = try store.allocations(in: pool)
        #expect(held.map(\.0) == [IPAddress("10.46.0.1")!, second].sorted() && held.first { $0.0 == second }?.1.podRef == "ns1/p1")
        // A view in which the pool looks full, but is not one read's: read again before saying so
        // (then the lowest free address, as for a writer that met no race).
        before = store.client.requests
        let full = EtcdStore.Chunk(bits: [UInt8](repeating: 0xff, count: 32), modRevision: 1)
        let third = try store.allocate(owner(2), in: pool, view: [0: full])
        let lowest = second == IPAddress("10.46.0.2") ? "10.46.0.3" : "10.46.0.2"
        #expect(third == IPAddress(lowest) && store.client.requests - before == 2)
    }

    /// The node's hint of a pool's chunks: the next ADD (a new process) commits at once, one
    /// request, the lowest free address while the hint is right; after another node wrote the
    /// chunk, two (its transaction fails and reads the pool back; then it searches from a random
    /// place, as after a race); a DEL updates the hint; a damaged hint, or one that claims taken
    /// addresses free, costs a request and never a duplicate.
    @Test func theNodesHintSavesTheReadAndCannotMislead() throws {
        let f = try EtcdFixture()
        let settings = WhereaboutsConfig.EtcdSettings(endpoints: [f.etcd.endpoints])
        let hints = f.local.file("etcd-hints")
        // Without overlapping-range reservations: the chunk's comparison alone keeps addresses apart.
        let pool = PoolRef(range: try range("10.49.0.0/24"), networkName: "", overlapping: false)
        func owner(_ n: Int) -> IPAllocation { IPAllocation(containerID: "c\(n)", podRef: "ns1/p\(n)", ifName: "net1") }
        var handedOut: [String] = []
        /// A new process's store: its address and the requests it took.
        func add(_ n: Int, hinted: Bool = true) throws -> (String, Int) {
            let store = try EtcdStore(settings, hints: hinted ? hints : nil)
            let ip = try store.allocate(owner(n), in: pool).description
            handedOut.append(ip)
            return (ip, store.client.requests)
        }
        #expect(try add(1) == ("10.49.0.1", 2))   // no hint yet: read, then the transaction
        #expect(try add(2) == ("10.49.0.2", 1))
        #expect(try add(3, hinted: false) == ("10.49.0.3", 2))   // another node
        #expect(try add(4).1 == 2)
        #expect(try add(5).1 == 1)
        let store = try EtcdStore(settings, hints: hints)
        #expect(try store.release(containerID: "c2", ifName: "net1", podRef: "ns1/p2", in: pool) == [IPAddress("10.49.0.2")!])
        handedOut.removeAll { $0 == "10.49.0.2" }
        #expect(try add(6) == ("10.49.0.2", 1))
        // A hint that says the chunk is empty: the transaction fails, nothing is handed out twice.
        let file = hints + "/" + pool.name
        var lying = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        for i in (lying.count - 32)..<lying.count { lying[i] = 0 }
        try Data(lying).write(to: URL(fileURLWithPath: file))
        #expect(try add(7).1 == 2)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try add(8).1 == 2)
        #expect(try add(9).1 == 1)
        let held = try store.allocations(in: pool).map { $0.0.description }
        #expect(Set(handedOut).count == 8 && Set(held) == Set(handedOut), "\(handedOut) \(held)")
    }

    /// Keys the loop did not write are neither trusted nor overwritten: a chunk of another size
    /// is read as full (none of its addresses handed out, the key left as it is), the pod's index
    /// pointing outside the range is replaced, a reservation of the same pod's other interface
    /// is kept (the address is another attachment's).
    @Test func foreignOrStaleKeysAreNeitherTrustedNorClobbered() throws {
        let f = try EtcdFixture()
        let store = try EtcdStore(.init(endpoints: f.etcd.endpoints.split(separator: ",").map(String.init)))
        store.attempts = 5
        let pool = PoolRef(range: try range("10.47.0.0/23"), networkName: "", overlapping: true)
        let chunk0 = store.base(pool) + "chunk/0"
        let index = store.podKey(pool, "ns1/p1", "net1")
        _ = try store.client.txn([], success: [.put(chunk0, [1, 2, 3]), .put(index, Array("99999".utf8))])
        let first = try store.allocate(IPAllocation(containerID: "c1", podRef: "ns1/p1", ifName: "net1"), in: pool)
        let off = try #require(pool.range.offset(of: first))
        let chunkNow = try store.client.get(chunk0)?.value
        let indexNow = try store.client.get(index)?.text
        #expect(off == 256 && chunkNow == [1, 2, 3] && indexNow == "256")
        // The next free address is reserved by ns1/p2's other interface.
        let next = try #require(pool.range.address(at: 257))
        let reservation = store.reservationKey(pool.reservationName(next))
        _ = try store.client.txn([], success: [.put(reservation, Array("ns1/p2\tnet2".utf8))])
        let second = try store.allocate(IPAllocation(containerID: "c2", podRef: "ns1/p2", ifName: "net1"), in: pool)
        #expect(second != next && pool.range.offset(of: second).map { $0 >= 256 } == true)
        let holder = try store.client.get(reservation)?.text
        #expect(holder == "ns1/p2\tnet2")
    }

    @Test func fullRangeIs110AndStatus51ThenUnreachableIs11AndStatus50() throws {
        let f = try EtcdFixture()
        let c = f.conf(#""range":"10.41.0.0/29","exclude":["10.41.0.4/30"]"#)
        var got: [String] = []
        for i in 0..<3 { got.append(f.address(f.call("ADD", c, id: "c\(i)", pod: "p\(i)")) ?? "-") }
        #expect(got == ["10.41.0.1/29", "10.41.0.2/29", "10.41.0.3/29"])
        #expect(f.call("ADD", c, id: "c9", pod: "p9").errorCode == 110)
        #expect(f.call("STATUS", c).errorCode == 51)
        f.etcd.kill(member: 0)
        #expect(f.call("ADD", c, id: "c9", pod: "p9").errorCode == 11)
        #expect(f.call("STATUS", c).errorCode == 50)
    }

    @Test func overlappingRangesAndNetworkNames() throws {
        let f = try EtcdFixture()
        let a = f.conf(#""range":"10.42.0.0/24""#, name: "a")
        let b = f.conf(#""range":"10.42.0.0/25""#, name: "b")
        #expect(f.address(f.call("ADD", a, id: "c1", pod: "p1")) == "10.42.0.1/24")
        #expect(f.address(f.call("ADD", b, id: "c2", pod: "p2")) == "10.42.0.2/25")
        let blue = f.conf(#""range":"10.42.0.0/24","network_name":"blue""#, name: "x")
        #expect(f.address(f.call("ADD", blue, id: "c3", pod: "p3")) == "10.42.0.1/24")
        #expect(try f.etcd.keys(prefix: "/swift-cni/whereabouts/reservations/").sorted()
                == ["/swift-cni/whereabouts/reservations/10.42.0.1", "/swift-cni/whereabouts/reservations/10.42.0.2",
                    "/swift-cni/whereabouts/reservations/blue-10.42.0.1"])
    }

    @Test func gcReleasesOnlyThisNodesStaleAttachments() throws {
        let f = try EtcdFixture()
        let c = f.conf(#""range":"10.43.0.0/24""#)
        for i in 0..<3 { #expect(f.call("ADD", c, id: "c\(i)", pod: "p\(i)").exitCode == 0) }
        let gc = String(c.dropLast()) + #","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}]}"#
        #expect(f.call("GC", gc).exitCode == 0)
        #expect(try f.etcd.keys(prefix: "/swift-cni/whereabouts/pools/10.43.0.0-24/ip/") == ["/swift-cni/whereabouts/pools/10.43.0.0-24/ip/2"])
    }

    /// `etcd_username`/`etcd_password`: the user's token goes with every call, and is asked for
    /// again when etcd voided it; a wrong password, no user or a user without permission on the
    /// keys is a config error (7) that writes nothing. A user configured where authentication is
    /// off is no error (clientv3 goes on without a token too).
    @Test func authenticationWithAUserAndPassword() throws {
        let f = try EtcdFixture()
        let ranged = #""range":"10.48.0.0/24""#
        let user = #","etcd_username":"wb","etcd_password":"wb-pw""#
        #expect(f.address(f.call("ADD", f.conf(ranged, extra: user), id: "c0", pod: "p0")) == "10.48.0.1/24")
        // Authentication off: asked once (Authenticate counts as a request), then calls go without.
        let off = try EtcdStore(.init(endpoints: [f.etcd.endpoints], username: "wb", password: "wb-pw"))
        let offPool = PoolRef(range: try range("10.48.1.0/24"), networkName: "", overlapping: false)
        _ = try off.allocations(in: offPool)
        _ = try off.allocations(in: offPool)
        #expect(off.client.requests == 3 && off.client.authenticationOff)
        try f.etcd.addUser("wb", password: "wb-pw", prefix: "/swift-cni/")
        try f.etcd.addUser("other", password: "other-pw", prefix: "/elsewhere/")
        try f.etcd.enableAuthentication()
        #expect(f.address(f.call("ADD", f.conf(ranged, extra: user), id: "c1", pod: "p1")) == "10.48.0.2/24")
        // One client across a revocation: its second call gets a new token and goes through.
        let store = try EtcdStore(.init(endpoints: [f.etcd.endpoints], username: "wb", password: "wb-pw"))
        let pool = PoolRef(range: try range("10.48.0.0/24"), networkName: "", overlapping: true)
        #expect(try store.allocations(in: pool).map(\.0) == [IPAddress("10.48.0.1")!, IPAddress("10.48.0.2")!])
        let token = store.client.token
        try f.etcd.revokeTokens()
        #expect(try store.allocate(IPAllocation(containerID: "c2", podRef: "ns1/p2", ifName: "net1"), in: pool) == IPAddress("10.48.0.3"))
        #expect(token != nil && store.client.token != nil && store.client.token != token)
        // Refusals: code 7, nothing written.
        let wrong = #","etcd_username":"wb","etcd_password":"nope""#
        for extra in [wrong, "", #","etcd_username":"other","etcd_password":"other-pw""#] {
            let e = f.call("ADD", f.conf(ranged, extra: extra), id: "c9", pod: "p9")
            #expect(e.errorCode == 7, "\(extra): \(e.text)")
        }
        #expect(try f.etcd.keys(prefix: "/swift-cni/whereabouts/pools/10.48.0.0-24/ip/").count == 3)
    }

    @Test func tlsWithClientCertificates() throws {
        let f = try EtcdFixture(tls: true)
        let tls = #","etcd_ca_cert_file":"\#(f.etcd.caFile)","etcd_cert_file":"\#(f.etcd.clientCertFile)","etcd_key_file":"\#(f.etcd.clientKeyFile)""#
        let c = f.conf(#""range":"10.44.0.0/24""#, extra: tls)
        #expect(f.address(f.call("ADD", c)) == "10.44.0.1/24")
        // By name (resolved, the certificate's DNS name checked): the same store.
        let byName = c.replacingOccurrences(of: "127.0.0.1:", with: "localhost:")
        #expect(f.address(f.call("ADD", byName, id: "c3", pod: "p3")) == "10.44.0.2/24")
        #expect(try f.etcd.keys(prefix: "/swift-cni/whereabouts/pools/10.44.0.0-24/ip/").count == 2)
        // Without a client certificate etcd refuses the handshake: a coded error, nothing written.
        let noCert = f.conf(#""range":"10.44.0.0/24""#, extra: #","etcd_ca_cert_file":"\#(f.etcd.caFile)""#)
        let e = f.call("ADD", noCert, id: "c2", pod: "p2")
        #expect(e.exitCode != 0 && e.errorCode != 999)
        #expect(try f.etcd.keys(prefix: "/swift-cni/whereabouts/pools/10.44.0.0-24/ip/").count == 2)
    }
}
