import CNI
import Foundation
import PluginKit
import Testing
import TestSupport
@testable import Whereabouts
@testable import WhereaboutsCluster

/// The Kubernetes datastore against the API test server: upstream's object names and shapes.
final class KubeStoreFixture {
    let api: KubeAPIServer
    let kubeconfig: String
    let local: TemporaryDirectory
    static let pools = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/whereabouts/ippools"
    static let reservations = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/whereabouts/overlappingrangeipreservations"

    init() throws {
        api = try KubeAPIServer()
        kubeconfig = try api.kubeconfig(namespace: "whereabouts")
        local = try TemporaryDirectory("swcni-wbk")
    }
    deinit { api.stop(); local.remove() }

    func conf(_ ipam: String, name: String = "net1", version: String = "1.1.0") -> String {
        #"{"cniVersion":"\#(version)","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","kubernetes":{"kubeconfig":"\#(kubeconfig)"},"dataDir":"\#(local.path)",\#(ipam)}}"#
    }

    func call(_ cmd: String, _ conf: String, id: String = "ctr1", ifName: String = "net1", pod: String = "pod1") -> Skeleton.Output {
        PluginCall(cmd, config: conf, containerID: id, ifName: ifName, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=\(pod)")
            .run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
    }

    func allocations(_ pool: String) throws -> JSONValue? { try api.get(Self.pools + "/" + pool)?["spec"]?["allocations"] }
    func reservation(_ name: String) throws -> JSONValue? { try api.get(Self.reservations + "/" + name)?["spec"] }
}

@Suite(.serialized) struct KubernetesStoreTests {
    @Test func addWritesUpstreamsObjectsAndDelRemovesThem() throws {
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.20.0.0/24","gateway":"10.20.0.1","ipRanges":[{"range":"fd20::/64"}]"#)
        let out = f.call("ADD", c)
        try #require(out.exitCode == 0, "\(out.text)")
        #expect(out.json?["ips"] == [["address": "10.20.0.2/24", "gateway": "10.20.0.1"], ["address": "fd20::1/64"]])
        let pool = try #require(try f.api.get(KubeStoreFixture.pools + "/10.20.0.0-24"))
        #expect(pool["kind"] == "IPPool" && pool["spec"]?["range"] == "10.20.0.0/24")
        #expect(pool["spec"]?["allocations"] == ["2": ["id": "ctr1", "podref": "ns1/pod1", "ifname": "net1"]])
        #expect(try f.allocations("fd20---64") == ["1": ["id": "ctr1", "podref": "ns1/pod1", "ifname": "net1"]])
        #expect(try f.reservation("10.20.0.2") == ["containerid": "ctr1", "podref": "ns1/pod1", "ifname": "net1"])
        #expect(try f.reservation("fd20--1") == ["containerid": "ctr1", "podref": "ns1/pod1", "ifname": "net1"])
        // No Lease and no LIST of every pool.
        let requests = try f.api.requests()
        #expect(!requests.contains { $0.1.contains("leases") } && !requests.contains { $0.0 == "GET" && $0.1.hasSuffix("/ippools") })
        #expect(f.call("CHECK", c).exitCode == 0)
        #expect(f.call("DEL", c).exitCode == 0)
        #expect(try f.allocations("10.20.0.0-24") == [:] && f.allocations("fd20---64") == [:])
        #expect(try f.reservation("10.20.0.2") == nil && f.reservation("fd20--1") == nil)
        #expect(f.call("DEL", c).exitCode == 0)
        #expect(f.call("CHECK", c).errorCode == 7)
    }

    @Test func upstreamsAllocationsInTheSamePoolAreRespectedAndKept() throws {
        let f = try KubeStoreFixture()
        // A pool upstream wrote (offsets 1 and 2 held), and upstream's reservation for .5 from another range.
        try f.api.createNamespaceObject(KubeStoreFixture.pools, #"{"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"IPPool","metadata":{"name":"10.21.0.0-24"},"spec":{"range":"10.21.0.0/24","allocations":{"1":{"id":"up1","podref":"ns9/a","ifname":"net1"},"2":{"id":"up2","podref":"ns9/b","ifname":"net1"}}}}"#)
        try f.api.createNamespaceObject(KubeStoreFixture.reservations, #"{"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"OverlappingRangeIPReservation","metadata":{"name":"10.21.0.3"},"spec":{"podref":"ns9/c","ifname":"net1"}}"#)
        try f.api.age(KubeStoreFixture.reservations + "/10.21.0.3", seconds: 3600)  // not a writer racing us: the search goes on upward
        let c = f.conf(#""range":"10.21.0.0/24""#)
        #expect(f.call("ADD", c).json?["ips"]?.arrayValue?.first?["address"] == "10.21.0.4/24")
        let a = try #require(try f.allocations("10.21.0.0-24")?.objectValue)
        #expect(a.entries.map(\.key).sorted() == ["1", "2", "4"])
        #expect(try f.reservation("10.21.0.3") == ["podref": "ns9/c", "ifname": "net1"])
        #expect(f.call("DEL", c).exitCode == 0)
        #expect(try f.allocations("10.21.0.0-24")?.objectValue?.entries.map(\.key).sorted() == ["1", "2"])
        // Upstream v0.6 records no interface name and its DEL matches the container only: ours
        // releases such a record for that container too.
        try f.api.call("PATCH", KubeStoreFixture.pools + "/10.21.0.0-24", #"[{"op":"add","path":"/spec/allocations/7","value":{"id":"v06","podref":"ns9/d"}}]"#,
                       contentType: "application/json-patch+json")
        #expect(f.call("DEL", c, id: "v06", pod: "d").exitCode == 0)
        #expect(try f.allocations("10.21.0.0-24")?.objectValue?.entries.map(\.key).sorted() == ["1", "2"])
    }

    @Test func gcReleasesOnlyWhatThisNodeMade() throws {
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.22.0.0/24""#)
        for i in 0..<3 { #expect(f.call("ADD", c, id: "c\(i)", pod: "p\(i)").exitCode == 0) }
        // Another node's allocation in the same pool.
        let other = f.conf(#""range":"10.22.0.0/24""#)
        let otherNode = try TemporaryDirectory("swcni-wbk2")
        defer { otherNode.remove() }
        let o = PluginCall("ADD", config: other.replacingOccurrences(of: f.local.path, with: otherNode.path), containerID: "far", ifName: "net1",
                           args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns2;K8S_POD_NAME=far").run(WhereaboutsPlugin.withClusterStores(flatFiles: []))
        #expect(o.exitCode == 0)
        let gc = String(c.dropLast()) + #","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"net1"}]}"#
        #expect(f.call("GC", gc).exitCode == 0)
        let left = try #require(try f.allocations("10.22.0.0-24")?.objectValue)
        #expect(left.entries.map { $0.value["id"]?.stringValue ?? "" }.sorted() == ["c1", "far"])
        #expect(try f.reservation("10.22.0.1") == nil && f.reservation("10.22.0.2") != nil)
    }

    @Test func anUnreachableAPIIs11AndStatus50() throws {
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.23.0.0/24""#)
        #expect(f.call("STATUS", c).exitCode == 0)
        f.api.stop()
        #expect(f.call("ADD", c).errorCode == 11)
        #expect(f.call("STATUS", c).errorCode == 50)
    }

    @Test func aWriterThatLosesTheRaceReadsAgain() throws {
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.24.0.0/24""#)
        #expect(f.call("ADD", c, id: "c0", pod: "p0").exitCode == 0)
        // The next two patches fail a test (422), as if another writer came first.
        try f.api.fault("PATCH", KubeStoreFixture.pools, status: 422, count: 2)
        #expect(f.call("ADD", c, id: "c1", pod: "p1").json?["ips"]?.arrayValue?.first?["address"] == "10.24.0.2/24")
        #expect(try f.allocations("10.24.0.0-24")?.objectValue?.entries.count == 2)
        // It kept the address whose reservation it had won: one reservation made, none deleted.
        let made = try f.api.requests().filter { $0.1.hasPrefix(KubeStoreFixture.reservations) && ($0.0 == "POST" || $0.0 == "DELETE") }
        #expect(made.map(\.0) == ["POST", "POST"])
        #expect(try f.reservation("10.24.0.2")?["podref"] == "ns1/p1")
    }

    /// The IPPool as the API answers it, read member by member (no tree): what `fetch` keeps.
    @Test func anIPPoolIsReadMemberByMember() throws {
        let c1 = IPAllocation(containerID: "c1", podRef: "ns/p1", ifName: "net1")
        func read(_ text: String) -> (doc: PoolDocument, version: String, hasAllocations: Bool)? { KubernetesStore.readPool(Array(text.utf8)) }
        let full = read(#"""
            {"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"IPPool","metadata":{"name":"10.0.0.0-24","resourceVersion":"42","labels":{"a":"b"}},
             "spec":{"range":"10.0.0.0/24","allocations":{"1":{"id":"c1","podref":"ns/p1","ifname":"net1","extra":[1,{"x":2}]},
               "2":{"id":7,"podref":null},"x":{"id":"skipped"},"3":"not a record","1":{"id":"c1","podref":"ns/p1","ifname":"net1"}}},"status":{}}
            """#)
        #expect(full?.version == "42" && full?.hasAllocations == true && full?.doc.range == "10.0.0.0/24")
        // Values that are not strings read as ""; a record that is no object as an empty one; a
        // key that is no offset is skipped; a repeated key, the last.
        #expect(full?.doc.allocations == [1: c1, 2: IPAllocation(containerID: "", podRef: "", ifName: ""), 3: IPAllocation(containerID: "", podRef: "", ifName: "")])
        // No allocations map (some writers leave an empty one out), an empty one, a spec that is no object.
        #expect(read(#"{"metadata":{"resourceVersion":"1"},"spec":{"range":"10.0.0.0/24"}}"#).map { ($0.hasAllocations, $0.doc.allocations.isEmpty) } ?? (true, false) == (false, true))
        #expect(read(#"{"metadata":{"resourceVersion":"1"},"spec":{"range":"10.0.0.0/24","allocations":{}}}"#)?.hasAllocations == true)
        #expect(read(#"{"metadata":{"resourceVersion":"1"},"spec":"10.0.0.0/24"}"#).map { ($0.doc.range, $0.hasAllocations) } ?? ("x", true) == ("", false))
        // A repeated spec or metadata: the last one, whole.
        let twice = read(#"{"metadata":{"resourceVersion":"1"},"spec":{"range":"10.0.0.0/24","allocations":{"1":{"id":"c1"}}},"metadata":{"name":"n"},"spec":{"range":"10.1.0.0/24"}}"#)
        #expect(twice == nil)
        let again = read(#"{"metadata":{"name":"n"},"spec":{"range":"10.0.0.0/24","allocations":{"1":{"id":"c1"}}},"metadata":{"resourceVersion":"2"},"spec":{"range":"10.1.0.0/24"}}"#)
        #expect(again?.version == "2" && again?.doc.range == "10.1.0.0/24" && again?.doc.allocations.isEmpty == true && again?.hasAllocations == false)
        // Not an IPPool: no spec, no resourceVersion string, not an object, not JSON.
        for text in [#"{"metadata":{"resourceVersion":"1"}}"#, #"{"metadata":{"resourceVersion":1},"spec":{}}"#, #"{"spec":{}}"#,
                     #"[{"metadata":{"resourceVersion":"1"},"spec":{}}]"#, #"{"metadata":{"resourceVersion":"1"},"spec":{}} x"#,
                     #"{"metadata":{"resourceVersion":"1"},"spec":{"allocations":{"1":{"id":"c1",}}}}"#] {
            #expect(read(text) == nil, "\(text)")
        }
    }

    @Test func aPatchTestsWhatItChangesNotThePoolsVersion() throws {
        let a = IPAllocation(containerID: "c1", podRef: "ns/p1", ifName: "net1")
        let b = IPAllocation(containerID: "c2", podRef: "ns/p2", ifName: "net1")
        let old = PoolDocument(range: "10.26.0.0/24", allocations: [1: a, 2: b])
        var new = old
        new[1] = nil
        new[2] = IPAllocation(containerID: "c3", podRef: "ns/p2", ifName: "net1")
        new[3] = a
        let ops = KubernetesStore.patchOperations(new, version: "7", hasAllocations: true)
        #expect(ops.map { "\($0["op"]!.stringValue!) \($0["path"]!.stringValue!)" } == [
            "test /spec/allocations/1/id", "remove /spec/allocations/1", "test /spec/allocations/2/id", "replace /spec/allocations/2",
            "test /spec/allocations/3", "add /spec/allocations/3"])
        #expect(ops[0]["value"] == "c1" && ops[2]["value"] == "c2" && ops[4]["value"] == .null)
        // A record without a container ID, or no allocations map yet: the resourceVersion.
        let noID = PoolDocument(range: "10.26.0.0/24", allocations: [1: IPAllocation(containerID: "", podRef: "ns/p1", ifName: "")])
        var gone = noID
        gone[1] = nil
        #expect(KubernetesStore.patchOperations(gone, version: "7", hasAllocations: true).first?["path"] == "/metadata/resourceVersion")
        #expect(KubernetesStore.patchOperations(new, version: "7", hasAllocations: false).first?["path"] == "/metadata/resourceVersion")
        #expect(KubernetesStore.patchOperations(old, version: "7", hasAllocations: false).isEmpty)

        // Against the server: another writer's change in between does not fail the patch; a
        // change of the same address does (422), and nothing of it is applied.
        let f = try KubeStoreFixture()
        let pool = KubeStoreFixture.pools + "/10.26.0.0-24"
        try f.api.createNamespaceObject(KubeStoreFixture.pools, #"{"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"IPPool","metadata":{"name":"10.26.0.0-24"},"spec":{"range":"10.26.0.0/24","allocations":{"1":{"id":"c1","podref":"ns/p1","ifname":"net1"},"2":{"id":"c2","podref":"ns/p2","ifname":"net1"}}}}"#)
        _ = try f.api.call("PATCH", pool, #"[{"op":"add","path":"/spec/allocations/9","value":{"id":"c9","podref":"ns/p9","ifname":"net1"}}]"#,
                           contentType: "application/json-patch+json")
        let patch = String(decoding: JSONValue.array(ops).serialized(), as: UTF8.self)
        #expect(try f.api.call("PATCH", pool, patch, contentType: "application/json-patch+json").status == 200)
        #expect(try f.allocations("10.26.0.0-24")?.objectValue?.keys.sorted() == ["2", "3", "9"])
        #expect(try f.allocations("10.26.0.0-24")?["2"]?["id"] == "c3")
        for offset: UInt128 in [9, 1] {  // taken by the other writer since `old` was read; released since
            var mine = old
            mine[offset] = IPAllocation(containerID: "c4", podRef: "ns/p4", ifName: "net1")
            let ops = KubernetesStore.patchOperations(mine, version: "7", hasAllocations: true)
            let r = try f.api.call("PATCH", pool, String(decoding: JSONValue.array(ops).serialized(), as: UTF8.self), contentType: "application/json-patch+json")
            #expect(r.status == 422)
        }
        #expect(try f.allocations("10.26.0.0-24")?.objectValue?.keys.sorted() == ["2", "3", "9"])
        #expect(try f.allocations("10.26.0.0-24")?["9"]?["id"] == "c9")
        // A patch that fails after changing something leaves nothing of it (the server's patch
        // works on a copy of what it changes).
        let late = #"[{"op":"add","path":"/spec/allocations/5","value":{"id":"c5","podref":"ns/p5","ifname":"net1"}},{"op":"remove","path":"/spec/allocations/9"},{"op":"test","path":"/spec/allocations/2/id","value":"wrong"}]"#
        #expect(try f.api.call("PATCH", pool, late, contentType: "application/json-patch+json").status == 422)
        #expect(try f.allocations("10.26.0.0-24")?.objectValue?.keys.sorted() == ["2", "3", "9"])
    }

    @Test func writersThatCollideSpreadOverTheRange() throws {
        // Another writer holds .1 and .2 (their reservations exist, the pool does not show them
        // yet): after the first collision the search no longer walks up from the lowest free address.
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.25.0.0/16""#)
        for ip in ["10.25.0.1", "10.25.0.2"] {
            try f.api.createNamespaceObject(KubeStoreFixture.reservations, #"{"apiVersion":"whereabouts.cni.cncf.io/v1alpha1","kind":"OverlappingRangeIPReservation","metadata":{"name":"\#(ip)","namespace":"whereabouts"},"spec":{"containerid":"x","podref":"ns1/other"}}"#)
        }
        let got = f.call("ADD", c, id: "c1", pod: "p1").json?["ips"]?.arrayValue?.first?["address"]?.stringValue ?? ""
        // (.3 would be the walk's next; a random start lands at or below it 3 times in 65,534.)
        #expect(got != "10.25.0.3/16" && got.hasPrefix("10.25.") && got != "10.25.0.1/16" && got != "10.25.0.2/16")
        #expect(try f.reservation(String(got.prefix { $0 != "/" }))?["podref"] == "ns1/p1")
    }
}
