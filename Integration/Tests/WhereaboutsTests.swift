import CNI
import Foundation
import Testing
import TestSupport

/// whereabouts as a runtime runs it: one process per ADD or DEL, many at once, against the
/// embedded file store, real etcd (one member, and three with one SIGKILLed) and the API test
/// server. No namespace is needed: an IPAM plugin touches no link.
@Suite(.serialized) struct WhereaboutsProcessTests {
    static let binary = BuildProducts.path("whereabouts")

    static func env(_ command: String, id: String, pod: String, ifName: String = "net1") -> [String: String] {
        ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": "/var/run/netns/unused",
         "CNI_IFNAME": ifName, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=\(pod)", "CNI_PATH": "/nonexistent"]
    }

    static func run(_ command: String, _ conf: String, id: String, pod: String, binary: String = binary) throws -> Command {
        let argv = [binary]
        let c = try Command.run(argv, env: env(command, id: id, pod: pod), stdin: conf)
        OurErrors.check(argv, c)
        return c
    }

    /// Runs `count` ADDs (or DELs) over `clients` threads, one process each; returns every reply by index.
    static func many(_ command: String, _ conf: String, count: Int, clients: Int, prefix: String = "c") -> [Command?] {
        let results = Locked([Command?](repeating: nil, count: count))
        let next = Locked(0)
        onThreads(clients) {
            while true {
                let i = next.with { n -> Int in defer { n += 1 }; return n }
                guard i < count else { return }
                let c = try? run(command, conf, id: "\(prefix)\(i)", pod: "p\(i)")
                results.with { $0[i] = c }
            }
        }
        return results.with { $0 }
    }

    /// A file-store pool's journal replayed: offset → its fields (containerID, podRef, ifName, created).
    static func replay(_ text: String) -> [Int: [String]] {
        var held: [Int: [String]] = [:]
        // Complete lines only: a killed writer may have left half of one.
        let complete = text.lastIndex(of: "\n").map { text[...$0] } ?? ""
        for line in complete.split(separator: "\n", omittingEmptySubsequences: true).dropFirst() where line.hasPrefix("+") || line.hasPrefix("-") {
            let f = line.dropFirst().split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard let off = Int(f[0]), line.hasPrefix("-") || f.count == 5 else { continue }
            held[off] = line.hasPrefix("+") ? Array(f.dropFirst()) : nil
        }
        return held
    }

    static func address(_ c: Command?) -> String? { c?.json?["ips"]?.arrayValue?.first?["address"]?.stringValue }

    @Test func fileStoreSixtyFourParallelAddsOnASlash26() throws {
        let dir = try TemporaryDirectory("swcni-wbp")
        defer { dir.remove() }
        let conf = #"{"cniVersion":"1.1.0","name":"p","type":"macvlan","ipam":{"type":"whereabouts","dataDir":"\#(dir.path)","range":"10.50.0.0/26","gateway":"10.50.0.1"}}"#
        let replies = Self.many("ADD", conf, count: 64, clients: 64)
        let addresses = replies.compactMap(Self.address)
        #expect(addresses.count == 61 && Set(addresses).count == 61)
        #expect(!addresses.contains("10.50.0.1/26") && !addresses.contains("10.50.0.0/26") && !addresses.contains("10.50.0.63/26"))
        #expect(replies.filter { $0?.status != 0 }.map { $0?.json?["code"]?.intValue } == [110, 110, 110])
        #expect(try Self.replay(dir.read("pools/10.50.0.0-26")).count == 61)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("reservations")).count == 61)
    }

    @Test func fileStoreSurvivesSIGKILLAtRandomPointsOfADD() throws {
        let dir = try TemporaryDirectory("swcni-wbk")
        defer { dir.remove() }
        let conf = #"{"cniVersion":"1.1.0","name":"k","type":"macvlan","ipam":{"type":"whereabouts","dataDir":"\#(dir.path)","range":"10.51.0.0/24"}}"#
        for i in 0..<60 {
            try killMidway(Self.binary, environment: Self.env("ADD", id: "k\(i)", pod: "k\(i)"), stdin: conf)
        }
        // Consistent: the pool reads, and every allocation has its reservation.
        for (off, record) in Self.replay((try? dir.read("pools/10.51.0.0-24")) ?? "") {
            #expect(try dir.read("reservations/10.51.0.\(off)").hasPrefix(record[1] + "\t"), "\(off): \(record)")
        }
        // ADD and DEL keep working, and GC with no live attachment takes back every allocation
        // and every reservation the killed ADDs left.
        #expect(Self.address(try Self.run("ADD", conf, id: "after", pod: "after")) != nil)
        #expect(try Self.run("DEL", conf, id: "after", pod: "after").status == 0)
        let gc = String(conf.dropLast()) + #","cni.dev/valid-attachments":[]}"#
        #expect(try Self.run("GC", gc, id: "gc", pod: "gc").status == 0)
        #expect(Self.replay((try? dir.read("pools/10.51.0.0-24")) ?? "").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("reservations")).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test(.enabled(if: EtcdServer.isAvailable))
    func etcdSixteenClientsAThousandAddsOnOneSlash22() throws {
        let etcd = try EtcdServer()
        let local = try TemporaryDirectory("swcni-wbe")
        defer { local.remove() }
        let conf = #"{"cniVersion":"1.1.0","name":"e","type":"macvlan","ipam":{"type":"whereabouts","datastore":"etcd","etcd_host":"\#(etcd.endpoints)","dataDir":"\#(local.path)","range":"10.52.0.0/22"}}"#
        let adds = Self.many("ADD", conf, count: 1000, clients: 16)
        let addresses = adds.compactMap(Self.address)
        #expect(addresses.count == 1000, "\(adds.filter { $0?.status != 0 }.prefix(3).map { $0?.stdout ?? "nil" })")
        #expect(Set(addresses).count == addresses.count)
        #expect(try etcd.keys(prefix: "/swift-cni/whereabouts/pools/10.52.0.0-22/ip/").count == 1000)
        let dels = Self.many("DEL", conf, count: 1000, clients: 16)
        #expect(dels.allSatisfy { $0?.status == 0 })
        // Nothing held: no record, index or reservation left, every bitmap chunk clear.
        let left = try etcd.values(prefix: "/swift-cni/")
        #expect(left.keys.allSatisfy { $0.contains("/chunk/") }, "\(left.keys.filter { !$0.contains("/chunk/") }.prefix(5))")
        #expect(left.values.allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    @Test(.enabled(if: EtcdServer.isAvailable))
    func etcdMemberKilledMidwayLosesNothingAndDuplicatesNothing() throws {
        let etcd = try EtcdServer(members: 3)
        let local = try TemporaryDirectory("swcni-wbe3")
        defer { local.remove() }
        let conf = #"{"cniVersion":"1.1.0","name":"e3","type":"macvlan","ipam":{"type":"whereabouts","datastore":"etcd","etcd_host":"\#(etcd.endpoints)","dataDir":"\#(local.path)","range":"10.53.0.0/22"}}"#
        let killer = Thread {
            usleep(1_500_000)
            etcd.kill(member: 0)
        }
        killer.start()
        let adds = Self.many("ADD", conf, count: 300, clients: 8)
        while killer.isExecuting { usleep(10_000) }
        #expect(etcd.members[0].process?.isRunning == false)
        // Every ADD succeeded or said "try again later"; none crashed.
        #expect(adds.allSatisfy { $0?.status == 0 || $0?.json?["code"]?.intValue == 11 })
        let won = adds.compactMap(Self.address)
        #expect(Set(won).count == won.count && won.count >= 250)
        // Every address handed out is recorded for its container (nothing lost), and no record is
        // for two containers.
        let records = try etcd.values(prefix: "/swift-cni/whereabouts/pools/10.53.0.0-22/ip/")
        var owners: [String: String] = [:]
        for (k, v) in records { owners[k] = String(decoding: v, as: UTF8.self) }
        for (i, c) in adds.enumerated() {
            guard let a = Self.address(c) else { continue }
            let off = Int(a.split(separator: ".")[2])! * 256 + Int(a.split(separator: ".")[3].split(separator: "/")[0])!
            #expect(owners["/swift-cni/whereabouts/pools/10.53.0.0-22/ip/\(off)"]?.contains("\"c\(i)\"") == true, "\(a) of c\(i)")
        }
    }

    @Test func kubernetesDatastoreEightClientsShareOnePoolWithoutALease() throws {
        let api = try KubeAPIServer()
        let local = try TemporaryDirectory("swcni-wbk8")
        defer { local.remove() }
        let kubeconfig = try api.kubeconfig(namespace: "whereabouts")
        let conf = #"{"cniVersion":"1.1.0","name":"k8","type":"macvlan","ipam":{"type":"whereabouts","kubernetes":{"kubeconfig":"\#(kubeconfig)"},"dataDir":"\#(local.path)","range":"10.54.0.0/24"}}"#
        let adds = Self.many("ADD", conf, count: 120, clients: 8)
        let won = adds.compactMap(Self.address)
        #expect(won.count == 120 && Set(won).count == 120)
        let pool = try api.get("/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/whereabouts/ippools/10.54.0.0-24")
        #expect(pool?["spec"]?["allocations"]?.objectValue?.entries.count == 120)
        #expect(!(try api.requests()).contains { $0.1.contains("/leases") })
    }
}

extension WhereaboutsProcessTests {
    static let upstreamK8s = "/var/cache/swift-cni-peers/whereabouts-k8s"

    /// Upstream v0.6.3 (built by ../shared/tools/build-peers.sh on a developer's machine; CI has
    /// no copy, so there this test does not run) and ours allocate at the same time in one IPPool:
    /// every address is handed out once, and each DELs what the other added. Its replies are
    /// upstream's, so they are not held to our error codes.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: upstreamK8s)))
    func upstreamV063AndOursShareOnePool() throws {
        let api = try KubeAPIServer()
        let local = try TemporaryDirectory("swcni-wbup")
        defer { local.remove() }
        let kubeconfig = try api.kubeconfig(namespace: "whereabouts")
        try local.write("flat.conf", "{}")
        let conf = #"{"cniVersion":"0.3.1","name":"shared","type":"macvlan","ipam":{"type":"whereabouts","kubernetes":{"kubeconfig":"\#(kubeconfig)"},"configuration_path":"\#(local.file("flat.conf"))","dataDir":"\#(local.path)","range":"10.55.0.0/26"}}"#
        let replies = Locked([Command?](repeating: nil, count: 40))
        let next = Locked(0)
        onThreads(8) {
            while true {
                let i = next.with { n -> Int in defer { n += 1 }; return n }
                guard i < 40 else { return }
                let c = try? Self.run("ADD", conf, id: "s\(i)", pod: "s\(i)", binary: i % 2 == 0 ? Self.binary : Self.upstreamK8s)
                replies.with { $0[i] = c }
            }
        }
        // Upstream creates its reservation after writing the pool: when ours reserved the address
        // in between, upstream's ADD fails ("already exists") and the runtime retries it, as
        // kubelet does. No address is ever handed out twice.
        var all = replies.with { $0 }
        for i in all.indices where all[i]?.status != 0 {
            #expect(i % 2 == 1 && all[i]?.stdout.contains("already exists") == true, "\(all[i]?.stdout ?? "")")
            all[i] = try Self.run("ADD", conf, id: "s\(i)", pod: "s\(i)", binary: Self.upstreamK8s)
        }
        let won = all.compactMap(Self.address)
        #expect(won.count == 40 && Set(won).count == 40, "\(all.filter { $0?.status != 0 }.prefix(2).map { $0?.stdout ?? "" })")
        let path = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/whereabouts/ippools/10.55.0.0-26"
        // Each address handed out is held in the pool by the pod that got it (upstream may also
        // have left a second record for a pod whose first try failed: its own leak).
        let held = try api.get(path)?["spec"]?["allocations"]?.objectValue ?? JSONObject()
        for (i, c) in all.enumerated() {
            guard let a = Self.address(c), let last = a.split(separator: "/")[0].split(separator: ".").last, let n = Int(last) else { continue }
            #expect(held[String(n)]?["podref"]?.stringValue == "ns/s\(i)", "\(a) of s\(i)")
        }
        for i in 0..<40 {
            let c = try Self.run("DEL", conf, id: "s\(i)", pod: "s\(i)", binary: i % 2 == 0 ? Self.upstreamK8s : Self.binary)
            #expect(c.status == 0, "\(c.stdout)")
        }
        let left = try api.get(path)?["spec"]?["allocations"]
        #expect(left?.objectValue?.entries.isEmpty == true, "\(left.map { $0.serializedString() } ?? "")")
    }
}

/// Runs `body` on `count` threads at once and waits for them all (Dispatch's concurrentPerform
/// runs only as many at a time as there are cores: 64 "parallel" ADDs would be 2 at a time).
func onThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
    let done = DispatchGroup()
    for _ in 0..<count {
        done.enter()
        Thread { body(); done.leave() }.start()
    }
    done.wait()
}

/// A value shared by the worker threads of one test.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func with<R>(_ body: (inout T) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}
