import CNI
import Foundation
import PluginKit
import Testing
import TestSupport
@testable import Whereabouts
@testable import WhereaboutsCluster

@Suite struct ReconcilerTests {
    @Test func freesWhatNoLivePodHoldsButNothingYoungerThanTheGrace() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.60.0.0/24""#)
        try f.dir.write("net.conf", c)
        for p in ["p1", "p2", "p3"] { #expect(f.call("ADD", c, id: "c-\(p)", pod: p).exitCode == 0) }
        try f.dir.write("live", "ns1/p2\n\n")
        var o = Reconciler.Options()
        o.confs = [f.dir.file("net.conf")]
        o.podsFile = f.dir.file("live")
        // Everything is seconds old: the default grace keeps it all.
        #expect(try Reconciler.run(o, environment: [:], now: Int64(time(nil))).isEmpty)
        #expect(f.pool("10.60.0.0-24").count == 3)
        // Ten minutes on: p1 and p3 are freed, with their reservations; p2 stays.
        o.dryRun = true
        #expect(try Reconciler.run(o, environment: [:], now: Int64(time(nil)) + 600).count == 2)
        #expect(f.pool("10.60.0.0-24").count == 3)
        o.dryRun = false
        let report = try Reconciler.run(o, environment: [:], now: Int64(time(nil)) + 600)
        #expect(report == ["freed 10.60.0.1 of ns1/p1 (c-p1/net1) in 10.60.0.0-24\n", "freed 10.60.0.3 of ns1/p3 (c-p3/net1) in 10.60.0.0-24\n"])
        #expect(f.pool("10.60.0.0-24").map { $0.split(separator: "\t")[2] } == ["ns1/p2"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.file("reservations")) == ["10.60.0.2"])
    }

    @Test func aPodThatGotItsAddressBackMeanwhileKeepsIt() throws {
        let f = try FileStoreFixture()
        let c = f.conf(#""range":"10.61.0.0/24""#)
        #expect(f.call("ADD", c, id: "old", pod: "p1").exitCode == 0)
        let conf = try WhereaboutsConfig(NetConf(bytes: Array(c.utf8)), args: CNIArgs(), version: .v1_0_0, flatFiles: [])
        let store = try FileStore(dataDir: f.dir.path)
        let pool = PoolRef(range: conf.ranges[0], networkName: "", overlapping: true)
        let seen = try store.allocations(in: pool)
        // The pod's new sandbox takes the record over after the reconciler read it.
        #expect(f.call("ADD", c, id: "new", pod: "p1").exitCode == 0)
        try store.release(seen, in: pool)
        #expect(f.pool("10.61.0.0-24").first?.contains("\tnew\t") == true)
    }

    @Test(arguments: [[], ["--conf"], ["--conf", "x", "--grace", "-1"], ["--conf", "x", "--bogus"], ["--conf", "x", "--all-pools"]])
    func badArgumentsAreRefused(args: [String]) {
        #expect(throws: CNIError.self) { try Reconciler.parse(args) }
    }

    @Test func kubernetesLivePodsFromTheAPIAndTimesFromTheReservations() throws {
        let f = try KubeStoreFixture()
        let c = f.conf(#""range":"10.62.0.0/24""#)
        try f.local.write("net.conf", c)
        for p in ["p1", "p2"] { #expect(f.call("ADD", c, id: "c-\(p)", pod: p).exitCode == 0) }
        try f.api.createPod("ns1", "p1")
        var o = Reconciler.Options()
        o.confs = [f.local.file("net.conf")]
        o.kubeconfig = f.kubeconfig
        #expect(try Reconciler.run(o, environment: [:], now: Int64(time(nil))).isEmpty)
        let report = try Reconciler.run(o, environment: [:], now: Int64(time(nil)) + 600)
        #expect(report == ["freed 10.62.0.2 of ns1/p2 (c-p2/net1) in 10.62.0.0-24\n"])
        #expect(try f.allocations("10.62.0.0-24")?.objectValue?.entries.map(\.key) == ["1"])
        #expect(try f.reservation("10.62.0.2") == nil && f.reservation("10.62.0.1") != nil)

        // --all-pools: every IPPool of the namespace, network_name prefixes included, no configs.
        let blue = f.conf(#""range":"10.63.0.0/24","network_name":"blue""#, name: "blue")
        #expect(f.call("ADD", blue, id: "c-p3", pod: "p3").exitCode == 0)
        var all = Reconciler.Options()
        all.allPools = true
        all.kubeconfig = f.kubeconfig
        #expect(try Reconciler.run(all, environment: [:], now: Int64(time(nil)) + 600)
                == ["freed 10.63.0.1 of ns1/p3 (c-p3/net1) in blue-10.63.0.0-24\n"])
        #expect(try f.reservation("blue-10.63.0.1") == nil && f.allocations("10.62.0.0-24")?.objectValue?.entries.count == 1)
    }
}
