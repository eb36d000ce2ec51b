import CNI
import CNIRuntime
import IPAddressing
import Kubernetes

/// What multus asks the cluster: the Kubernetes client, or a fake in the unit tests.
public protocol ClusterAPI: Sendable {
    func pod(namespace: String, name: String) throws(KubeError) -> Pod
    func networkAttachmentDefinition(namespace: String, name: String) throws(KubeError) -> NetworkAttachmentDefinition
    func patchPodAnnotations(namespace: String, name: String, _ annotations: [String: String?]) throws(KubeError)
    /// A Normal event on the pod (as upstream: reason AddedInterface, "Add net1 [ips] from ns/nad").
    func recordPodEvent(_ pod: Pod, reason: String, message: String, component: String) throws(KubeError)
    /// The devices kubelet gave the pod, per resource name (its PodResources API under
    /// `kubeletRoot`, else its device checkpoint).
    func podDevices(_ pod: Pod, kubeletRoot: String) throws(CNIError) -> PodDevices
}

/// One network multus attaches to the pod: its configuration (a conf or a conflist object, with
/// `name` filled and the pod's `cni-args` merged), the name network-status reports ("ns/nad", or
/// the master conf's own name), the interface, and the per-attachment arguments.
public struct MultusDelegate: Sendable, Equatable {
    public var name: String
    public var config: JSONObject
    public var ifName: String
    public var isMaster: Bool
    /// Capability arguments for the delegate's plugins that declare them (libcni's runtimeConfig):
    /// `ips`, `mac`, `portMappings`, `bandwidth`, `deviceID`, `infinibandGUID`; the master gets
    /// multus's own runtimeConfig.
    public var capabilityArgs: JSONObject
    /// CNI_ARGS of this delegate beyond the pod's (legacy `IP=`, `MAC=`).
    public var extraArgs: [CNIArgs.Pair]
    public var defaultRoute: [IPAddress]
    /// The device kubelet gave the pod for this network (its NAD's resourceName).
    public var device: Device?

    /// The configuration as the runtime runs it: a conflist as is, a conf wrapped as one.
    public func list() throws(CNIError) -> NetworkConfigList {
        let bytes = JSONValue.object(config).serialized()
        return config["plugins"] != nil ? try NetworkConfigList(conflist: bytes, source: "network \(name)")
                                        : try NetworkConfigList(conf: bytes, source: "network \(name)")
    }

    public var json: JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        o["ifName"] = .string(ifName)
        o["master"] = .bool(isMaster)
        o["config"] = .object(config)
        o["capabilityArgs"] = .object(capabilityArgs)
        o["args"] = .array(extraArgs.map { [.string($0.key), .string($0.value)] })
        o["defaultRoute"] = .array(defaultRoute.map { .string($0.description) })
        if let device {
            o["resourceName"] = .string(device.resourceName)
            o["deviceID"] = .string(device.id)
        }
        return .object(o)
    }

    public init(name: String, config: JSONObject, ifName: String, isMaster: Bool, capabilityArgs: JSONObject = JSONObject(),
                extraArgs: [CNIArgs.Pair] = [], defaultRoute: [IPAddress] = []) {
        (self.name, self.config, self.ifName, self.isMaster) = (name, config, ifName, isMaster)
        (self.capabilityArgs, self.extraArgs, self.defaultRoute) = (capabilityArgs, extraArgs, defaultRoute)
    }

    public init(json: JSONValue) throws(CNIError) {
        let r = JSONReader(json, path: "delegate", code: .decodingFailure)
        try r.requireObject()
        guard let config = try r.object("config") else { throw CNIError(.decodingFailure, "cached delegate without config") }
        var args: [CNIArgs.Pair] = []
        for a in try r.array("args") ?? [] {
            guard let p = a.arrayValue, p.count == 2, let k = p[0].stringValue, let v = p[1].stringValue else {
                throw CNIError(.decodingFailure, "cached delegate with malformed args")
            }
            args.append(.init(k, v))
        }
        var routes: [IPAddress] = []
        for g in try r.stringArray("defaultRoute") ?? [] {
            guard let ip = IPAddress(g) else { throw CNIError(.decodingFailure, "cached delegate with a bad default-route \(g)") }
            routes.append(ip)
        }
        self.init(name: try r.requiredString("name"), config: config, ifName: try r.requiredString("ifName"),
                  isMaster: try r.bool("master") ?? false, capabilityArgs: try r.object("capabilityArgs") ?? JSONObject(),
                  extraArgs: args, defaultRoute: routes)
        if let resource = try r.string("resourceName"), let id = try r.string("deviceID") {
            device = Device(resourceName: resource, id: id)
        }
    }
}
