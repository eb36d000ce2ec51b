import CNI
import Glibc
import LinuxSystem

/// whereabouts, each ADD a separate process as a runtime runs it: allocations per second with 8
/// concurrent clients (the median of three rounds), and the median ADD latency at 1 % and at 99 % fill of a /22 (two pools, measured in turn) — ours on each
/// datastore, and upstream beside it when ../shared/tools/build-peers.sh built it (v0.5.4 on the
/// same etcd, v0.6.3 on the same API test server). Returns the rows of the "whereabouts" table.
struct WhereaboutsBenchmark {
    let ours: String
    /// Where build-peers.sh put upstream's binaries (whereabouts = v0.5.4, whereabouts-k8s = v0.6.3).
    let peers: String
    /// Which datastores to measure ("file", "etcd", "kubernetes"): all unless `--stores` names some.
    var stores: Set<String> = ["file", "etcd", "kubernetes"]
    let clients = 8
    let tag = String(getpid())

    struct Line { var name: String; var ours: String; var upstream: String; var ratio: String; var target: String }

    func run() throws -> [Line] {
        let dir = "/tmp/cni-bench-wb-\(tag)"
        try FileSystem.makeDirectories(dir)
        defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }
        try FileSystem.writeAtomically(dir + "/flat.conf", Array("{}".utf8))
        var lines: [Line] = []
        let upstreamEtcd = FileSystem.isExecutableFile(peers + "/whereabouts") ? peers + "/whereabouts" : nil
        let upstreamK8s = FileSystem.isExecutableFile(peers + "/whereabouts-k8s") ? peers + "/whereabouts-k8s" : nil

        // The embedded file store (no upstream counterpart).
        let file = { (range: String, name: String) in
            #"{"cniVersion":"0.3.1","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","datastore":"file","dataDir":"\#(dir)/file","range":"\#(range)"}}"#
        }
        if stores.contains("file") {
            lines += try compare("file store", ours: { file($0, "f-\($1)") }, upstream: nil, upstreamTarget: nil)
            lines.append(try versusHostLocal(dir))
        }

        if stores.contains("etcd"), FileSystem.isExecutableFile("/usr/bin/etcd") {
            let etcd = try Etcd(dir: dir + "/etcd")
            defer { etcd.stop() }
            let conf = { (range: String, name: String, datastore: String) in
                #"{"cniVersion":"0.3.1","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","datastore":"\#(datastore)","etcd_host":"127.0.0.1:\#(etcd.port)","dataDir":"\#(dir)/local","configuration_path":"\#(dir)/flat.conf","range":"\#(range)"}}"#
            }
            lines += try compare("etcd", ours: { conf($0, "e-\($1)", "etcd") },
                                 upstream: upstreamEtcd.map { u in (u, { conf($0, "ue-\($1)", "etcd") }) }, upstreamTarget: 4,
                                 server: etcd.pid)
        }

        guard stores.contains("kubernetes") else { return lines }
        try FileSystem.makeDirectories(dir + "/api")
        let server = try APIServer(dir: dir + "/api", netns: nil)
        defer { server.stop() }
        let k8s = { (range: String, name: String) in
            #"{"cniVersion":"0.3.1","name":"\#(name)","type":"macvlan","ipam":{"type":"whereabouts","kubernetes":{"kubeconfig":"\#(server.kubeconfig)"},"dataDir":"\#(dir)/local","configuration_path":"\#(dir)/flat.conf","range":"\#(range)"}}"#
        }
        lines += try compare("Kubernetes CRDs", ours: { k8s($0, "k-\($1)") },
                             upstream: upstreamK8s.map { u in (u, { k8s($0, "uk-\($1)") }) }, upstreamTarget: 10,
                             server: server.pid)
        return lines
    }

    /// Throughput (8 clients) and latency at 1 % / 99 % fill, ours and upstream's in turn; with
    /// `server` (the datastore's process), the CPU an ADD of the throughput rounds costs.
    func compare(_ store: String, ours conf: (String, Int) -> String, upstream: (String, (String, Int) -> String)?,
                 upstreamTarget: Double?, server: Int32? = nil) throws -> [Line] {
        var net = Int.random(in: 0..<50) * 4
        func nextRange() -> String { net += 4; return "10.\(100 + net / 256).\(net % 256).0/22" }
        FileSystem.writeStderr("cni-bench: whereabouts on the \(store)…\n")
        // The file store as a host runs it (the per-pod executable); the cluster datastores as the
        // node image installs them (straight to swift-cni-full).
        let binary = store == "file store" ? ours + "/whereabouts" : try clusterLink("whereabouts", ours: ours, in: "/tmp/cni-bench-wb-\(tag)/cluster-bin")
        // Each side's executable from disk, as on a node (startFromDisk): a freshly linked or
        // copied file maps in larger pieces, and one side fresh against the other read back from
        // disk moved the rates by a tenth.
        try startFromDisk([binary] + (upstream.map { [$0.0] } ?? [])) {
            _ = try invoke(binary, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#)
            if let (u, _) = upstream { _ = try invoke(u, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#) }
        }
        let o = try measure(binary, conf, nextRange, server: server)
        var lines: [Line] = []
        var upstreamResult: Result?
        if let (binary, uconf) = upstream {
            let u = try measure(binary, uconf, nextRange, server: server)
            upstreamResult = u
            let ratio = o.rate / u.rate
            // The issue's targets: etcd ≥ 300/s and ≥ 4× upstream; the Kubernetes datastore ≥ 10× upstream.
            let rateTarget = store == "etcd" ? 300.0 : 0
            lines.append(Line(name: "\(store): allocations/s, \(clients) clients", ours: format(o.rate, 1), upstream: format(u.rate, 1),
                              ratio: format(ratio, 2) + "×", target: (rateTarget > 0 ? "≥ \(format(rateTarget, 0))/s and " : "")
                                  + "≥ \(format(upstreamTarget ?? 1, 0))× upstream: "
                                  + (o.rate >= rateTarget && ratio >= (upstreamTarget ?? 1) ? "met" : "MISSED")))
            lines.append(Line(name: "\(store): ADD latency 1 % → 99 % fill (median ms)",
                              ours: "\(format(o.low.median, 2)) → \(format(o.high.median, 2)) (\(format(o.high.median / o.low.median, 2))×)",
                              upstream: "\(format(u.low.median, 2)) → \(format(u.high.median, 2)) (\(format(u.high.median / u.low.median, 2))×)",
                              ratio: "", target: "≤ 1.5×: " + (o.high.median / o.low.median <= 1.5 ? "met" : "MISSED")))
        } else {
            lines.append(Line(name: "\(store): allocations/s, \(clients) clients", ours: format(o.rate, 1), upstream: "–", ratio: "",
                              target: store == "etcd" ? "≥ 300/s: " + (o.rate >= 300 ? "met" : "MISSED") : ""))
            lines.append(Line(name: "\(store): ADD latency 1 % → 99 % fill (median ms)",
                              ours: "\(format(o.low.median, 2)) → \(format(o.high.median, 2)) (\(format(o.high.median / o.low.median, 2))×)",
                              upstream: "–", ratio: "", target: "≤ 1.5×: " + (o.high.median / o.low.median <= 1.5 ? "met" : "MISSED")))
        }
        // What the rate is made of where the clients share the machine's cores with the
        // datastore: the clients' CPU and the datastore's per ADD, and the rate the cores would
        // give at that cost alone (the runner's fork and exec not counted; a side bound by
        // something else, as upstream v0.6.3 by its Lease, stays below it).
        if let s = o.serverCPU {
            let cores = Double(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            func cost(_ r: Result) -> String {
                let total = r.clientCPU + (r.serverCPU ?? 0)
                return "\(format(r.clientCPU, 2)) + \(format(r.serverCPU ?? 0, 2)) = \(format(total, 2)) ms "
                    + "(\(format(cores * 1000 / total, 0))/s on \(format(cores, 0)) cores)"
            }
            let u = upstreamResult
            lines.insert(Line(name: "\(store): CPU per ADD, clients + datastore", ours: cost(o), upstream: u.map(cost) ?? "–",
                              ratio: u.map { "upstream's ÷ ours: " + format(($0.clientCPU + ($0.serverCPU ?? 0)) / (o.clientCPU + s), 2) + "×" } ?? "",
                              target: ""), at: 1)
        }
        return lines
    }

    /// `clientCPU`: the client processes' CPU per ADD (ms) over the throughput rounds;
    /// `serverCPU`: the datastore process's over the same rounds, when it was given.
    struct Result { var rate: Double; var low: Samples; var high: Samples; var clientCPU: Double; var serverCPU: Double? }

    /// whereabouts on its file store against host-local (both ours), one process per ADD as a
    /// runtime runs them, alternating, each followed by its DEL (not counted): issue #19 asks the
    /// file store to cost no more than host-local.
    func versusHostLocal(_ dir: String) throws -> Line {
        let wb = #"{"cniVersion":"1.0.0","name":"vs-wb","type":"macvlan","ipam":{"type":"whereabouts","dataDir":"\#(dir)/vs-wb","range":"10.99.1.0/24"}}"#
        let hl = #"{"cniVersion":"1.0.0","name":"vs-hl","type":"macvlan","ipam":{"type":"host-local","dataDir":"\#(dir)/vs-hl","subnet":"10.99.2.0/24"}}"#
        var w = Samples(), h = Samples()
        for n in 0..<60 {
            w.add(require(try invoke(ours + "/whereabouts", env("ADD", "v\(n)"), wb), "whereabouts ADD").wall * 1000)
            _ = require(try invoke(ours + "/whereabouts", env("DEL", "v\(n)"), wb), "whereabouts DEL")
            h.add(require(try invoke(ours + "/host-local", env("ADD", "v\(n)"), hl), "host-local ADD").wall * 1000)
            _ = require(try invoke(ours + "/host-local", env("DEL", "v\(n)"), hl), "host-local DEL")
        }
        let ratio = w.median / h.median
        return Line(name: "file store ADD vs our host-local ADD (median ms)", ours: "\(format(w.median, 2)) vs \(format(h.median, 2))",
                    upstream: "–", ratio: format(ratio, 2) + "×", target: "≤ 1× host-local: " + (ratio <= 1 ? "met" : "MISSED"))
    }

    func env(_ command: String, _ id: String) -> [String: String] {
        ["CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": "/var/run/netns/bench", "CNI_IFNAME": "net1",
         "CNI_PATH": "/nonexistent", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=\(id)"]
    }

    /// `count` ADDs over `clients` threads; returns the wall time of the whole batch (and in
    /// `cpu`, when given, the processes' CPU seconds summed).
    func batch(_ binary: String, _ conf: String, ids: [String], command: String = "ADD", cpu: Counter<Double>? = nil) throws -> Double {
        let failures = Counter<Int>()
        let next = Counter<Int>()
        let t0 = now()
        onThreads(clients) {
            while true {
                let i = next.increment()
                guard i < ids.count else { return }
                let m = try? invoke(binary, env(command, ids[i]), conf)
                if m?.out.status != 0 { _ = failures.increment() }
                if let m, let cpu { cpu.add(m.cpu) }
            }
        }
        let elapsed = now() - t0
        if failures.value > 0 {
            FileSystem.writeStderr("cni-bench: \(failures.value) of \(ids.count) \(command)s of \(binary) failed\n")
            exit(1)
        }
        return elapsed
    }

    func measure(_ binary: String, _ conf: (String, Int) -> String, _ nextRange: () -> String, server: Int32? = nil) throws -> Result {
        // Throughput: 400 ADDs on an empty /22 (then released), three times: the median round
        // (one round lasts 1–2 s for ours, where a moment of a busy VM moves the figure by a third).
        let c1 = conf(nextRange(), 1)
        let ids = (0..<400).map { "t\($0)" }
        var rates: [Double] = []
        let clientCPU = Counter<Double>()
        var serverCPU = server.flatMap { processCPU($0) } == nil ? nil : 0.0
        for _ in 0..<3 {
            let before = server.flatMap { processCPU($0) }
            rates.append(Double(ids.count) / (try batch(binary, c1, ids: ids, cpu: clientCPU)))
            // A round whose figure could not be read leaves the whole figure out.
            if let before, let after = server.flatMap({ processCPU($0) }) { serverCPU? += after - before } else { serverCPU = nil }
            _ = try batch(binary, c1, ids: ids, command: "DEL")
        }
        FileSystem.writeStderr("cni-bench:   \(binary): rounds of 400 ADDs at \(rates.map { format($0, 1) }.joined(separator: ", "))/s\n")
        // Latency: 40 ADDs (+DEL, not counted) in a pool with 10 of 1022 addresses held and 40 in
        // one with 1012 held, alternating, so a machine that gets slower or faster meanwhile
        // moves both figures alike.
        let c2 = conf(nextRange(), 2), c3 = conf(nextRange(), 3)
        _ = try batch(binary, c2, ids: (0..<10).map { "fill\($0)" })
        _ = try batch(binary, c3, ids: (0..<1012).map { "fill\($0)" })
        var low = Samples(), high = Samples()
        for n in 0..<40 {
            low.add(require(try invoke(binary, env("ADD", "l\(n)"), c2), "\(binary) ADD").wall * 1000)
            _ = require(try invoke(binary, env("DEL", "l\(n)"), c2), "\(binary) DEL")
            high.add(require(try invoke(binary, env("ADD", "h\(n)"), c3), "\(binary) ADD").wall * 1000)
            _ = require(try invoke(binary, env("DEL", "h\(n)"), c3), "\(binary) DEL")
        }
        _ = try batch(binary, c2, ids: (0..<10).map { "fill\($0)" }, command: "DEL")
        _ = try batch(binary, c3, ids: (0..<1012).map { "fill\($0)" }, command: "DEL")
        let adds = Double(3 * ids.count)
        return Result(rate: rates.sorted()[1], low: low, high: high, clientCPU: clientCPU.value * 1000 / adds,
                      serverCPU: serverCPU.map { $0 * 1000 / adds })
    }
}

/// A running process's CPU seconds so far, all its threads (utime + stime of /proc/PID/stat).
func processCPU(_ pid: Int32) -> Double? {
    guard pid > 0, let bytes = try? FileSystem.read("/proc/\(pid)/stat"),
          let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
    // After "pid (comm)": state is the first field, utime the 12th, stime the 13th.
    let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
    guard fields.count > 12, let user = Double(String(decoding: fields[11], as: UTF8.self)),
          let system = Double(String(decoding: fields[12], as: UTF8.self)) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Runs `body` on `count` threads of its own at once and waits for all (Dispatch's
/// concurrentPerform would run only as many at a time as there are cores).
func onThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var threads: [pthread_t] = []
    for _ in 0..<count {
        var t = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

/// A number shared by worker threads: a count (`increment`) or a sum (`add`).
final class Counter<Number: Numeric>: @unchecked Sendable {
    private var n: Number = 0
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    /// Adds `amount`; returns the value before.
    @discardableResult
    func add(_ amount: Number) -> Number { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; n += amount; return n - amount }
    func increment() -> Number { add(1) }
    var value: Number { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return n }
}

/// One etcd member on loopback (Debian's etcd-server) with a temporary data directory.
final class Etcd {
    let port = Int.random(in: 20_000...32_000)
    var pid: Int32 = 0

    init(dir: String) throws {
        try FileSystem.makeDirectories(dir)
        let script = """
            etcd --name b --data-dir \(dir)/data --listen-client-urls http://127.0.0.1:\(port) --advertise-client-urls http://127.0.0.1:\(port) \
              --listen-peer-urls http://127.0.0.1:\(port + 1) --initial-advertise-peer-urls http://127.0.0.1:\(port + 1) \
              --initial-cluster b=http://127.0.0.1:\(port + 1) --log-level error > \(dir)/log 2>&1 &
            echo $!
            """
        let out = try Subprocess.run("/bin/sh", arguments: ["-c", script], environment: baseEnv)
        pid = Int32(String(decoding: out.stdout, as: UTF8.self).trimmingWhitespace) ?? 0
        for _ in 0..<100 {
            let h = try Subprocess.run("/usr/bin/etcdctl", arguments: ["--endpoints", "127.0.0.1:\(port)", "endpoint", "health"],
                                       environment: baseEnv + ["ETCDCTL_API=3"], captureStderr: true)
            if h.status == 0 { return }
            usleep(100_000)
        }
        throw SystemError("start etcd", errno: EIO)
    }

    func stop() { if pid > 0 { kill(pid, SIGKILL); pid = 0 } }
}
