import CNI
import CNIInvoke
import CNIRuntime
import Glibc
import IPAddressing
import Kubernetes
import LinuxSystem
import PluginKit

/// multus: a meta plugin that attaches several networks to one pod — the cluster network (or
/// the first static delegate) as CNI_IFNAME, then the pod's NetworkAttachmentDefinitions as
/// net1, net2, … — through the runtime side of the contract (CNIRuntime, with libcni's result
/// cache under `cniDir`), and reports them in the pod's network-status annotation.
public struct MultusPlugin: Plugin {
    public let about = "swift-cni multus: attach a pod to several networks (NetworkAttachmentDefinitions)"
    /// Makes the cluster client for a config (tests inject a fake); nil: no API.
    let makeAPI: @Sendable (MultusConfig, PluginRequest) throws -> (any ClusterAPI)?
    let invoker: any PluginInvoker

    /// `api` makes the cluster client when a verb first needs one (MultusCluster's
    /// `kubernetesAPI`; the per-pod executable hands over to the cluster executable instead).
    public init(invoker: any PluginInvoker = ExecPluginInvoker(),
                api: @escaping @Sendable (MultusConfig, PluginRequest) throws -> (any ClusterAPI)?) {
        self.invoker = invoker
        self.makeAPI = api
    }

    /// Whether a verb with this config may ask the API server (a kubeconfig, or a pod's service
    /// account): without, multus runs on static delegates alone and never makes a client.
    public static func usesCluster(_ conf: MultusConfig, _ env: [String: String]) -> Bool {
        conf.kubeconfig != nil || InCluster.detected(env)
    }

    /// multus in the per-pod executable: static delegates here; the first verb that needs the
    /// API server (before it has changed anything) is handed over to `swift-cni-full`. A DEL
    /// that finds its delegate cache never needs it.
    public static func perPod(invoker: any PluginInvoker = ExecPluginInvoker()) -> MultusPlugin {
        MultusPlugin(invoker: invoker) { conf, r in
            guard usesCluster(conf, r.environment) else { return nil }
            try Handoff.toFull(stdin: r.stdin, why: "multus with a Kubernetes API")
        }
    }

    /// The pod's identity from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID,
    /// K8S_POD_INFRA_CONTAINER_ID).
    struct PodRef {
        var namespace = "", name = "", uid = "", infraContainerID = ""
        init(_ args: CNIArgs) {
            namespace = args["K8S_POD_NAMESPACE"] ?? ""
            name = args["K8S_POD_NAME"] ?? ""
            uid = args["K8S_POD_UID"] ?? ""
            infraContainerID = args["K8S_POD_INFRA_CONTAINER_ID"] ?? ""
        }
        var isSet: Bool { !namespace.isEmpty && !name.isEmpty }
    }

    /// Everything a verb needs: the config, the pod, the cluster client, the runtime.
    struct Context {
        let request: PluginRequest
        let conf: MultusConfig
        var podRef: PodRef
        let args: CNIArgs
        /// Made on first use: a DEL that finds its cache never reads the kubeconfig.
        let lazyAPI: LazyAPI
        let runtime: CNIRuntime
        let cache: ScratchCache
        let log: PluginLog

        var api: (any ClusterAPI)? { get throws { try lazyAPI.get() } }

        var resolver: DelegateResolver { get throws { DelegateResolver(conf: conf, api: try api, ifName: request.ifName) } }

        /// For DEL: kubelet not answering means no devices (a DEL must not depend on it).
        var teardownResolver: DelegateResolver {
            get throws { DelegateResolver(conf: conf, api: try api, ifName: request.ifName, devices: DeviceAllocation(bestEffort: true)) }
        }

        /// What one delegate is run with: its interface, the pod's arguments and its own.
        func runtimeConf(_ d: MultusDelegate) -> RuntimeConf {
            var pairs: [CNIArgs.Pair] = [.init("IgnoreUnknown", "true"), .init("K8S_POD_NAMESPACE", podRef.namespace),
                                         .init("K8S_POD_NAME", podRef.name),
                                         .init("K8S_POD_INFRA_CONTAINER_ID", podRef.infraContainerID),
                                         .init("K8S_POD_UID", podRef.uid)]
            let own = ["IgnoreUnknown", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]
            pairs += args.pairs.filter { !own.contains($0.key) }
            pairs += d.extraArgs
            return RuntimeConf(containerID: request.containerID, netns: request.netns, ifName: d.ifName,
                               args: CNIArgs(pairs: pairs), capabilityArgs: d.capabilityArgs)
        }
    }

    func context(_ r: PluginRequest) throws -> Context {
        let conf = try MultusConfig(r.config)
        let args = try CNIArgs(parsing: r.rawArgs)
        // The delegates' base environment: ours without the protocol's variables (the runtime sets
        // them per delegate), built anew rather than by mutating a copy (see CNIRuntime.run).
        var env = [String: String](minimumCapacity: r.environment.count)
        for (k, v) in r.environment where !ProtocolVariables.names.contains(k) { env[k] = v }
        let runtime = CNIRuntime(pluginPaths: [conf.binDir] + r.path, cacheDirectory: conf.cniDir, invoker: invoker,
                                 baseEnvironment: env)
        let make = makeAPI
        return Context(request: r, conf: conf, podRef: PodRef(args), args: args, lazyAPI: LazyAPI { try make(conf, r) },
                       runtime: runtime, cache: ScratchCache(directory: conf.cniDir), log: PluginLog(level: conf.logLevel, file: conf.logFile, toStderr: conf.logToStderr,
                                                                 rotation: conf.logRotation))
    }

    enum ProtocolVariables {
        static let names = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]
    }

    /// The cluster client, made once, when first asked for.
    final class LazyAPI {
        private let make: () throws -> (any ClusterAPI)?
        private var made: (any ClusterAPI)??
        init(_ make: @escaping () throws -> (any ClusterAPI)?) { self.make = make }
        func get() throws -> (any ClusterAPI)? {
            if let made { return made }
            let api = try make()
            made = .some(api)
            return api
        }
    }

    // MARK: ADD

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let c = try context(r)
        try waitForReadiness(c.conf)
        var pod: Pod?
        if let api = try c.api, c.podRef.isSet {
            do {
                pod = try api.pod(namespace: c.podRef.namespace, name: c.podRef.name)
            } catch where error.isNotFound {
                // Deleted before its sandbox came up: as upstream, nothing is attached.
                c.log.verbose("ADD \(r.containerID): pod \(c.podRef.namespace)/\(c.podRef.name) not found, nothing attached")
                return Self.placeholderResult(r)
            } catch {
                throw error
            }
            if let p = pod, !c.podRef.uid.isEmpty, !p.uid.isEmpty, p.uid != c.podRef.uid {
                throw CNIError(.invalidEnvironment, "multus: pod \(p.namespace)/\(p.name) has UID \(p.uid), not \(c.podRef.uid)")
            }
        }
        var delegates = try c.resolver.resolve(pod: pod)
        DeviceInfo.assign(&delegates, directory: c.conf.deviceInfoDir, containerID: r.containerID)
        try step("write the delegate cache of \(r.containerID)") {
            try c.cache.write(r.containerID, .init(podNamespace: c.podRef.namespace, podName: c.podRef.name, podUID: c.podRef.uid,
                                                   infraContainerID: c.podRef.infraContainerID, netns: r.netns, delegates: delegates))
        }
        var results: [CNIRuntime.VersionedResult] = []
        for (i, d) in delegates.enumerated() {
            if d.device != nil {
                // The device plugin's description of the device, for the delegate and network-status.
                do { try DeviceInfo.copyFromDevicePlugin(d, directory: c.conf.deviceInfoDir) } catch {
                    c.log.verbose("ADD \(r.containerID): no device info for \(d.name) from the device plugin: \(error)")
                }
            }
            do {
                results.append(try step("add network \(d.name)") { try c.runtime.add(d.list(), c.runtimeConf(d)) })
                c.log.verbose("Add \(d.ifName) [\(results[i].result.ips.map { $0.address.description }.joined(separator: ","))] from \(d.name)")
            } catch {
                c.log.error("ADD \(r.containerID): network \(d.name) (\(d.ifName)) failed: \(error)")
                // The failing network too: a chain whose later plugin failed keeps the earlier ones' work.
                throw failedAdd(c, delegates[...i], network: "\(d.name) (\(d.ifName))", error)
            }
        }
        do {
            try moveDefaultRoutes(c, delegates, &results)
        } catch {
            throw failedAdd(c, delegates[...], network: "default-route", error)
        }
        if let api = try c.api, let pod {
            let moved = delegates.contains { !$0.defaultRoute.isEmpty }
            // As upstream: a network whose result has no interface and no address (the auxiliary
            // chain) has no entry.
            let status = zip(delegates, results).filter { !$1.result.interfaces.isEmpty || !$1.result.ips.isEmpty }.map { d, res in
                NetworkStatus.entry(d, res.result, isDefault: moved ? !d.defaultRoute.isEmpty : d.isMaster, deviceInfo: DeviceInfo.read(d))
            }
            // The pod would run with networks nobody is told about (upstream returns the error and
            // keeps them): undone like any other failed step.
            do {
                try step("write the network-status of pod \(pod.namespace)/\(pod.name)") {
                    try api.patchPodAnnotations(namespace: pod.namespace, name: pod.name,
                                                [NetworkStatus.annotation: NetworkStatus.value(status)])
                }
            } catch {
                throw failedAdd(c, delegates[...], network: "network-status", error)
            }
            // Events, as upstream posts them; a pod's interfaces do not depend on them.
            for (d, res) in zip(delegates, results) {
                let ips = res.result.ips.map { $0.address.description }.joined(separator: " ")
                do { try api.recordPodEvent(pod, reason: "AddedInterface", message: "Add \(d.ifName) [\(ips)] from \(d.name)", component: "multus") } catch {
                    c.log.error("ADD \(r.containerID): event for \(d.ifName): \(error)")
                }
            }
        }
        return results[0].result
    }

    /// A failed ADD: every delegate added so far is taken down again, newest first, the cache
    /// goes, and the error names the network that failed.
    func failedAdd(_ c: Context, _ done: ArraySlice<MultusDelegate>, network: String, _ error: any Error) -> CNIError {
        let undo = undoAdd(c, done)
        // What could not be undone stays on record for the runtime's DEL.
        if undo.isEmpty { c.cache.remove(c.request.containerID) }
        let e = CNIError.from(error)
        return CNIError(code: e.code, msg: "multus: network \(network) failed: \(e.msg)",
                        details: ([e.details] + undo).filter { !$0.isEmpty }.joined(separator: "; "))
    }

    /// `default-route` of the pod's selections: applied in the pod, and the results (the ones
    /// returned and libcni's cache of each network) changed to match.
    func moveDefaultRoutes(_ c: Context, _ delegates: [MultusDelegate], _ results: inout [CNIRuntime.VersionedResult]) throws {
        guard delegates.contains(where: { !$0.defaultRoute.isEmpty }) else { return }
        try DefaultRoute.apply(delegates, netns: c.request.netns)
        var adjusted = results.map(\.result)
        DefaultRoute.adjust(&adjusted, delegates)
        for i in results.indices where adjusted[i] != results[i].result {
            results[i].result = adjusted[i]
            let list = try delegates[i].list()
            let rt = c.runtimeConf(delegates[i])
            try step("update the cached result of \(delegates[i].name)") {
                try c.runtime.cache.write(ResultCache.Entry(
                    containerID: rt.containerID, ifName: rt.ifName, networkName: list.name, netns: rt.netns, config: list.bytes,
                    cniArgs: rt.args, capabilityArgs: rt.capabilityArgs, result: try results[i].result.json(version: results[i].version)))
            }
        }
    }

    /// DELs of the delegates an ADD already attached, newest first; what failed, as text.
    func undoAdd(_ c: Context, _ done: ArraySlice<MultusDelegate>) -> [String] {
        var failures: [String] = []
        for d in done.reversed() {
            do {
                try c.runtime.del(d.list(), c.runtimeConf(d))
                DeviceInfo.remove(d)
            } catch {
                failures.append("undo \(d.name): \(error)")
            }
        }
        return failures
    }

    /// Upstream's answer for a pod that no longer exists: CNI_IFNAME with 0.0.0.0/0, nothing set up.
    static func placeholderResult(_ r: PluginRequest) -> CNIResult {
        CNIResult(interfaces: [.init(name: r.ifName, sandbox: r.netns)],
                  ips: [.init(address: IPPrefix("0.0.0.0/0")!, interface: 0)])
    }

    /// `readinessindicatorfile`: ADD, STATUS and GC wait (1 s steps, 45 s at most) for the
    /// default network to say it is ready.
    func waitForReadiness(_ conf: MultusConfig, seconds: Int = 45) throws(CNIError) {
        guard let file = conf.readinessIndicatorFile else { return }
        for attempt in 0...seconds {
            if FileSystem.exists(file) { return }
            if attempt < seconds { sleep(1) }
        }
        throw CNIError(.tryAgainLater, "multus: the readiness indicator file \(file) did not appear")
    }
}
