import Basics
import CNI
import CNIRuntime
import IPAddressing
import Kubernetes
import LinuxSystem

/// Which networks a pod gets and how, as upstream multus decides: the master (clusterNetwork, or
/// the pod's default-network annotation, or the first static delegate), the default networks,
/// then the networks of the pod's annotation, in order, with their interface names.
struct DelegateResolver {
    let conf: MultusConfig
    let api: (any ClusterAPI)?
    /// CNI_IFNAME: the master's interface.
    let ifName: String
    /// The pod's devices, read from kubelet when a NAD first names a resourceName.
    var devices = DeviceAllocation()

    /// Every delegate for `pod` (nil: no API or no pod name: static and cluster networks only).
    func resolve(pod: Pod?) throws -> [MultusDelegate] {
        var delegates = try masterAndDefaults(pod: pod)
        if let pod, let text = pod.annotations[NetworkSelection.annotation] {
            for sel in try NetworkSelection.parse(text, podNamespace: pod.namespace) {
                try checkIsolation(sel, podNamespace: pod.namespace)
                delegates.append(try annotationDelegate(sel, pod: pod))
            }
        }
        if let aux = try auxiliaryChain() { delegates.append(aux) }
        try assignInterfaces(&delegates)
        try checkDefaultRoutes(delegates)
        return delegates
    }

    /// The master and the default networks (also what DEL can still find without the pod).
    func masterAndDefaults(pod: Pod?) throws -> [MultusDelegate] {
        var out: [MultusDelegate] = []
        if let cluster = conf.clusterNetwork {
            out.append(try named(cluster, namespace: conf.multusNamespace, pod: pod).delegate(ifName: ifName, isMaster: true))
            let isSystem = pod.map { conf.systemNamespaces.contains($0.namespace) } ?? false
            for n in conf.defaultNetworks where !isSystem {
                out.append(try named(n, namespace: conf.multusNamespace, pod: pod).delegate(ifName: "", isMaster: false))
            }
        } else {
            for (i, d) in conf.delegates.enumerated() {
                let config = withVersion(d)
                out.append(MultusDelegate(name: config["name"]?.stringValue ?? "", config: config, ifName: i == 0 ? ifName : "",
                                          isMaster: i == 0))
            }
        }
        // The pod's default-network annotation replaces the master (looked up in multusNamespace).
        if let pod, let text = pod.annotations[NetworkSelection.defaultNetworkAnnotation], !text.isEmpty,
           let sel = try NetworkSelection.parse(text, podNamespace: conf.multusNamespace).first {
            // Its devices counted on their own, as upstream reads them anew for it.
            let own = DelegateResolver(conf: conf, api: api, ifName: ifName, devices: DeviceAllocation(bestEffort: devices.bestEffort))
            out[0] = try own.named(sel.name, namespace: conf.multusNamespace, pod: pod).delegate(ifName: ifName, isMaster: true)
        }
        if !out.isEmpty { out[0].capabilityArgs = conf.runtimeConfig }
        return out
    }

    /// A network as found: the name network-status gives it, its configuration, and the device
    /// kubelet gave the pod for it (a NAD with a resourceName).
    struct Found {
        var name: String
        var config: JSONObject
        var device: Device?

        func delegate(ifName: String, isMaster: Bool) -> MultusDelegate {
            var d = MultusDelegate(name: name, config: config, ifName: ifName, isMaster: isMaster)
            d.device = device
            // As upstream, a device is a capability of the networks other than the master.
            if let device, !isMaster { d.capabilityArgs["deviceID"] = .string(device.id) }
            return d
        }
    }

    /// A network by name: a NetworkAttachmentDefinition in `namespace` (when there is an API),
    /// else the configuration of that name in confDir, else a directory's first configuration,
    /// else a file.
    func named(_ network: String, namespace: String, pod: Pod?) throws -> Found {
        if let api {
            do {
                let nad = try api.networkAttachmentDefinition(namespace: namespace, name: network)
                return try found(nad, pod: pod)
            } catch let e as KubeError where e.isNotFound {
                // Not a NAD: a file.
            } catch {
                throw error
            }
        }
        if let list = try? ConfigLoader.loadList(directory: conf.confDir, name: network) {
            return Found(name: list.name, config: try parse(list.bytes, network))
        }
        if FileSystem.isDirectory(network) {
            guard let file = (ConfigLoader.files(in: network, extensions: ["conflist"])
                              + ConfigLoader.files(in: network, extensions: ["conf", "json"])).first else {
                throw CNIError.invalidConfig("multus: no network configuration in directory \(network)")
            }
            let c = try parse(try read(file), file)
            return Found(name: c["name"]?.stringValue ?? network, config: c)
        }
        if FileSystem.exists(network) {
            let c = try parse(try read(network), network)
            return Found(name: c["name"]?.stringValue ?? network, config: c)
        }
        throw CNIError.invalidConfig("multus: network \"\(network)\" not found",
                                     details: "no NetworkAttachmentDefinition in \(namespace), no configuration of that name in \(conf.confDir), and no such file")
    }

    /// A NAD as a network: its configuration and, when it names a resourceName, the pod's next
    /// device of that resource written into every plugin as `deviceID` and `pciBusID`.
    func found(_ nad: NetworkAttachmentDefinition, pod: Pod?) throws -> Found {
        var f = Found(name: "\(nad.namespace)/\(nad.name)", config: try config(of: nad))
        if let d = try device(for: nad, pod: pod) {
            f.device = d
            f.config = Self.withDeviceID(f.config, d.id)
        }
        return f
    }

    static let resourceNameAnnotation = "k8s.v1.cni.cncf.io/resourceName"

    /// The device of a NAD's `k8s.v1.cni.cncf.io/resourceName` for the pod: as upstream, the
    /// i-th device ID of that resource for the i-th network naming it, none when the pod has no
    /// more (the plugin then goes without, as upstream).
    func device(for nad: NetworkAttachmentDefinition, pod: Pod?) throws -> Device? {
        guard let resource = nad.annotations[Self.resourceNameAnnotation], !resource.isEmpty,
              let pod, !pod.name.isEmpty, !pod.namespace.isEmpty, let api else { return nil }
        return try devices.next(resource) { () throws(CNIError) in try api.podDevices(pod, kubeletRoot: conf.kubeletRootDir) }
    }

    /// `deviceID` and `pciBusID` set in the configuration, or in every plugin of a conflist.
    static func withDeviceID(_ config: JSONObject, _ id: String) -> JSONObject {
        eachPlugin(config) { p in
            p["deviceID"] = .string(id)
            p["pciBusID"] = .string(id)
        }
    }

    /// A change made to a conf, or to every plugin of a conflist.
    static func eachPlugin(_ config: JSONObject, _ change: (inout JSONObject) -> Void) -> JSONObject {
        var c = config
        guard let plugins = config["plugins"]?.arrayValue else {
            change(&c)
            return c
        }
        c["plugins"] = .array(plugins.map { v in
            guard var p = v.objectValue else { return v }
            change(&p)
            return .object(p)
        })
        return c
    }

    /// A NAD's configuration: `spec.config` (its `name` filled from the NAD's when missing), or,
    /// when empty, the file of the NAD's name in confDir.
    func config(of nad: NetworkAttachmentDefinition) throws -> JSONObject {
        if nad.config.trimmingWhitespace.isEmpty {
            let list = try ConfigLoader.loadList(directory: conf.confDir, name: nad.name)
            return try parse(list.bytes, nad.name)
        }
        var c = try parse(Array(nad.config.utf8), "NetworkAttachmentDefinition \(nad.namespace)/\(nad.name)")
        if (c["name"]?.stringValue ?? "").isEmpty { c["name"] = .string(nad.name) }
        return c
    }

    func annotationDelegate(_ sel: NetworkSelection, pod: Pod?) throws -> MultusDelegate {
        guard let api else { throw CNIError.invalidConfig("multus: the pod asks for networks but there is no Kubernetes API") }
        let nad: NetworkAttachmentDefinition
        do {
            nad = try api.networkAttachmentDefinition(namespace: sel.namespace, name: sel.name)
        } catch where error.isNotFound {
            throw CNIError.invalidConfig("multus: cannot find a network-attachment-definition (\(sel.name)) in namespace (\(sel.namespace))",
                                         details: error.description)
        } catch {
            throw error
        }
        let f = try found(nad, pod: pod)
        var config = f.config
        if let args = sel.cniArgs { config = Self.mergeCNIArgs(config, args) }
        var caps = JSONObject()
        var extra: [CNIArgs.Pair] = []
        if !sel.ips.isEmpty {
            caps["ips"] = .array(sel.ips.map { .string($0) })
            extra.append(.init("IP", sel.ips.joined(separator: ",")))
        }
        if let mac = sel.mac { caps["mac"] = .string(mac); extra.append(.init("MAC", mac)) }
        if let p = sel.portMappings { caps["portMappings"] = p }
        if let b = sel.bandwidth { caps["bandwidth"] = b }
        // The resource's device wins over the selection's own deviceID (as upstream).
        if let d = f.device?.id ?? sel.deviceID { caps["deviceID"] = .string(d) }
        if let g = sel.infinibandGUID { caps["infinibandGUID"] = .string(g) }
        var d = MultusDelegate(name: f.name, config: config, ifName: sel.interface ?? "", isMaster: false,
                               capabilityArgs: caps, extraArgs: extra, defaultRoute: sel.defaultRoute)
        d.device = f.device
        return d
    }

    /// `auxiliaryCNIChainName` (upstream's subdirectory chain): the plugin configurations in
    /// `<directory of clusterNetwork>/<name>/*.conf`, in name order, run as one more network after
    /// the pod's, behind a `passthru` that hands them an empty result (so tuning, sbr and the like
    /// act on the pod's existing interfaces). No such file: no chain. Unlike upstream, a file
    /// that cannot be read or has no `type` is an error, not a chain silently skipped.
    func auxiliaryChain() throws -> MultusDelegate? {
        guard let name = conf.auxiliaryCNIChainName else { return nil }
        guard let cluster = conf.clusterNetwork, cluster.contains("/") else {
            throw CNIError.invalidConfig("multus: auxiliaryCNIChainName needs clusterNetwork to be a path",
                                         details: "clusterNetwork is \(conf.clusterNetwork.map { "\"\($0)\"" } ?? "unset")")
        }
        try Names.validateNetworkName(name)
        let dir = FileSystem.directoryName(cluster) + "/" + name
        var plugins: [JSONValue] = [["type": "passthru", "name": "passthru-cni"]]
        for file in ConfigLoader.files(in: dir, extensions: ["conf"]) {
            let plugin = try parse(try read(file), file)
            guard let type = plugin["type"]?.stringValue, !type.isEmpty else {
                throw CNIError.invalidConfig("multus: the auxiliary chain's \(file) has no \"type\"")
            }
            plugins.append(.object(plugin))
        }
        guard plugins.count > 1 else { return nil }
        var list = JSONObject()
        list["cniVersion"] = .string(conf.cniVersion)
        list["name"] = .string(name)
        list["plugins"] = .array(plugins)
        return MultusDelegate(name: name, config: list, ifName: "", isMaster: false)
    }

    /// With namespaceIsolation, a pod may use networks of its own namespace and the global ones.
    func checkIsolation(_ sel: NetworkSelection, podNamespace: String) throws(CNIError) {
        guard conf.namespaceIsolation, sel.namespace != podNamespace, !conf.globalNamespaces.contains(sel.namespace) else { return }
        throw CNIError(.invalidNetworkConfig, "multus: namespace isolation violation",
                       details: "pod namespace \(podNamespace) may not use network \(sel.namespace)/\(sel.name)")
    }

    /// The master keeps CNI_IFNAME; another delegate its requested name, else `net<index>`.
    func assignInterfaces(_ delegates: inout [MultusDelegate]) throws(CNIError) {
        var seen: Set<String> = []
        for i in delegates.indices {
            if delegates[i].ifName.isEmpty { delegates[i].ifName = "net\(i)" }
            guard seen.insert(delegates[i].ifName).inserted else {
                throw CNIError.invalidConfig("multus: interface \(delegates[i].ifName) is asked for twice")
            }
        }
    }

    /// At most one network may take the default route per family ("multus does not support ECMP").
    func checkDefaultRoutes(_ delegates: [MultusDelegate]) throws(CNIError) {
        let gws = delegates.flatMap(\.defaultRoute)
        for f in [IPAddress.Family.v4, .v6] where gws.filter({ $0.family == f }).count > 1 {
            throw CNIError.invalidConfig("multus: more than one network asks for the \(f == .v4 ? "IPv4" : "IPv6") default route",
                                         details: "multus does not support ECMP")
        }
    }

    func parse(_ bytes: [UInt8], _ source: String) throws -> JSONObject {
        guard let o = try? JSONValue.parse(bytes).objectValue else {
            throw CNIError(.decodingFailure, "multus: the configuration of \(source) is not a JSON object")
        }
        return withVersion(o)
    }

    /// A configuration without cniVersion speaks multus's (as upstream injects it).
    func withVersion(_ o: JSONObject) -> JSONObject {
        var c = o
        if (c["cniVersion"]?.stringValue ?? "").isEmpty { c["cniVersion"] = .string(conf.cniVersion) }
        return c
    }

    func read(_ file: String) throws -> [UInt8] {
        do { return try FileSystem.read(file, atMost: 1 << 20) } catch { throw CNIError(.ioFailure, "multus: cannot read \(file)", details: error.description) }
    }

    /// The pod's `cni-args` merged into `args.cni` of every plugin of the configuration.
    static func mergeCNIArgs(_ config: JSONObject, _ args: JSONObject) -> JSONObject {
        eachPlugin(config) { p in
            var a = p["args"]?.objectValue ?? JSONObject()
            var cni = a["cni"]?.objectValue ?? JSONObject()
            for e in args { cni[e.key] = e.value }
            a["cni"] = .object(cni)
            p["args"] = .object(a)
        }
    }
}
