import Whereabouts
import CNI
import Glibc
import IPAddressing
import Kubernetes
import KubernetesClient
import LinuxSystem

/// `whereabouts reconcile`: frees the addresses of pods that no longer exist — what upstream's
/// ip-reconciler cron job does, without its race (#162, #207: it listed the pods, then the pools,
/// and freed the address of a pod created in between). Here the pools are read first and the live
/// pods after, so a pod that holds an address read is in the list; an allocation younger than the
/// grace period is never freed either way; and each release is conditional on the record being
/// unchanged, so a pod that got the address back meanwhile keeps it.
///
///   whereabouts reconcile (--conf FILE [--conf FILE…] | --all-pools [--namespace NS])
///                         (--pods FILE | --kubeconfig FILE | in a pod) [--grace SECONDS (300)] [--dry-run]
/// --all-pools: every IPPool of the Kubernetes datastore's namespace (the CronJob's way: no
/// network configs needed).
/// FILE for --pods: one `<namespace>/<name>` per line, the live pods. Prints one line per address
/// freed (or that would be, with --dry-run); exit status 0, 1 on an error.
public enum Reconciler {
    public struct Options: Sendable {
        public var confs: [String] = []
        public var podsFile: String?
        public var kubeconfig: String?
        public var grace: Int64 = 300
        public var dryRun = false
        public var allPools = false
        public var namespace = ""
        public init() {}
    }

    public static func main(_ arguments: [String], environment: [String: String]) -> Int32 {
        do {
            let o = try parse(arguments)
            let report = try run(o, environment: environment, now: Int64(time(nil)))
            try FileSystem.writeAll(fd: 1, Array(report.joined().utf8))
            return 0
        } catch {
            FileSystem.writeStderr("whereabouts reconcile: \(error)\n")
            return 1
        }
    }

    static func parse(_ args: [String]) throws(CNIError) -> Options {
        var o = Options()
        var i = 0
        func value() throws(CNIError) -> String {
            i += 1
            guard i < args.count else { throw CNIError.invalidConfig("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--conf": o.confs.append(try value())
            case "--pods": o.podsFile = try value()
            case "--kubeconfig": o.kubeconfig = try value()
            case "--grace":
                guard let g = Int64(try value()), g >= 0 else { throw CNIError.invalidConfig("--grace takes seconds") }
                o.grace = g
            case "--dry-run": o.dryRun = true
            case "--all-pools": o.allPools = true
            case "--namespace": o.namespace = try value()
            default: throw CNIError.invalidConfig("unknown argument \(args[i])",
                                                  details: "usage: whereabouts reconcile --conf FILE… (--pods FILE | --kubeconfig FILE) [--grace SECONDS] [--dry-run]")
            }
            i += 1
        }
        if o.confs.isEmpty == !o.allPools { throw CNIError.invalidConfig("give --conf files or --all-pools") }
        return o
    }

    /// The whereabouts IPAM configs of a network config or conflist file.
    static func configs(_ path: String) throws -> [NetConf] {
        let json = try JSONValue.parse(try FileSystem.read(path))
        guard let plugins = json["plugins"]?.arrayValue else { return [try NetConf(json: json)] }
        return try plugins.compactMap { p -> NetConf? in
            guard var o = p.objectValue, p["ipam"]?["type"]?.stringValue == "whereabouts" else { return nil }
            (o["name"], o["cniVersion"]) = (json["name"], json["cniVersion"])
            return try NetConf(json: .object(o))
        }
    }

    /// Live pods: the file's lines, or every pod of the cluster that has not terminated.
    static func livePods(_ o: Options, environment: [String: String]) throws -> Set<String> {
        if let file = o.podsFile {
            return Set(String(decoding: try FileSystem.read(file), as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { String($0).trimmingWhitespace }.filter { !$0.isEmpty })
        }
        var live = Set<String>()
        for pod in try client(o, environment: environment).call(.GET, "/api/v1/pods").json?["items"]?.arrayValue ?? [] {
            let phase = pod["status"]?["phase"]?.stringValue ?? ""
            guard phase != "Succeeded" && phase != "Failed", let m = pod["metadata"],
                  let ns = m["namespace"]?.stringValue, let name = m["name"]?.stringValue else { continue }
            live.insert(ns + "/" + name)
        }
        return live
    }

    static func client(_ o: Options, environment: [String: String]) throws -> KubeClient {
        let connection = try o.kubeconfig.map(KubeConnection.kubeconfig(path:)) ?? KubeConnection.inCluster(environment: environment)
        guard let connection else { throw CNIError.invalidConfig("no --kubeconfig and not in a pod: where is the Kubernetes API?") }
        return KubeClient(connection)
    }

    /// Every IPPool of the namespace, as pools to reconcile: the range from `spec.range`, the
    /// network name from what the object's name has before the normalized range.
    static func allPools(_ o: Options, environment: [String: String]) throws -> (KubernetesStore, [PoolRef]) {
        let c = try client(o, environment: environment)
        let namespace = o.namespace.isEmpty ? c.connection.configuredNamespace ?? "kube-system" : o.namespace
        let store = KubernetesStore(client: c, namespace: namespace)
        var pools: [PoolRef] = []
        for item in try c.call(.GET, KubernetesStore.group + namespace + "/ippools").json?["items"]?.arrayValue ?? [] {
            guard let name = item["metadata"]?["name"]?.stringValue, let text = item["spec"]?["range"]?.stringValue,
                  let subnet = IPPrefix(text), let range = try? PoolRange(subnet: subnet) else { continue }
            guard let networkName = range.networkName(fromPoolName: name) else { continue }
            pools.append(PoolRef(range: range, networkName: networkName, overlapping: true))
        }
        return (store, pools)
    }

    /// Reads every pool of every config, then the live pods, then frees what no live pod holds.
    static func run(_ o: Options, environment: [String: String], now: Int64) throws -> [String] {
        let plugin = WhereaboutsPlugin.withClusterStores()
        var seen: [(any WhereaboutsStore, PoolRef, [(IPAddress, IPAllocation)])] = []
        if o.allPools {
            let (store, pools) = try allPools(o, environment: environment)
            for pool in pools { seen.append((store, pool, try store.allocations(in: pool))) }
        }
        for path in o.confs {
            for conf in try configs(path) {
                let c = try WhereaboutsConfig(conf, args: CNIArgs(), version: try conf.version(), flatFiles: plugin.flatFiles)
                let store = try WhereaboutsPlugin.store(for: c)
                for pool in plugin.pools(c) { seen.append((store, pool, try store.allocations(in: pool))) }
            }
        }
        let live = try livePods(o, environment: environment)
        var report: [String] = []
        for (store, pool, held) in seen {
            let times = try store.creationTimes(held, in: pool)
            let orphans = held.filter { ip, a in
                !a.podRef.isEmpty && !live.contains(a.podRef) && now - (times[ip] ?? 0) >= o.grace
            }
            if orphans.isEmpty { continue }
            if !o.dryRun { try store.release(orphans, in: pool) }
            for (ip, a) in orphans {
                report.append("\(o.dryRun ? "would free" : "freed") \(ip) of \(a.podRef) (\(a.containerID)/\(a.ifName)) in \(pool.name)\n")
            }
        }
        return report
    }
}
