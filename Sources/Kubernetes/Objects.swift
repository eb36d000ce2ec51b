import CNI

/// The pod fields multus reads.
public struct Pod: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var annotations: [String: String]

    public init(namespace: String, name: String, uid: String = "", annotations: [String: String] = [:]) {
        (self.namespace, self.name, self.uid, self.annotations) = (namespace, name, uid, annotations)
    }

    package init(json: JSONValue) throws(KubeError) {
        let m = try ObjectMeta(json, kind: "pod")
        self.init(namespace: m.namespace, name: m.name, uid: m.uid, annotations: m.annotations)
    }
}

/// A NetworkAttachmentDefinition (`k8s.cni.cncf.io/v1`): its name and `spec.config` (a conf or
/// conflist as a string; empty means "the file of that name in multus's confDir").
public struct NetworkAttachmentDefinition: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var config: String
    public var annotations: [String: String]

    public init(namespace: String, name: String, config: String, annotations: [String: String] = [:]) {
        (self.namespace, self.name, self.config, self.annotations) = (namespace, name, config, annotations)
    }

    package init(json: JSONValue) throws(KubeError) {
        let m = try ObjectMeta(json, kind: "network-attachment-definition")
        self.init(namespace: m.namespace, name: m.name, config: json["spec"]?["config"]?.stringValue ?? "", annotations: m.annotations)
    }
}

/// The `metadata` fields the plugins read from any object.
package struct ObjectMeta {
    package var name: String
    package var namespace: String
    package var uid: String
    package var annotations: [String: String] = [:]

    package init(_ json: JSONValue, kind: String) throws(KubeError) {
        guard let meta = json["metadata"], let name = meta["name"]?.stringValue else {
            throw KubeError(.invalidResponse, "read \(kind)", "no metadata.name")
        }
        self.name = name
        namespace = meta["namespace"]?.stringValue ?? ""
        uid = meta["uid"]?.stringValue ?? ""
        for e in meta["annotations"]?.objectValue ?? JSONObject() { annotations[e.key] = e.value.stringValue ?? "" }
    }
}

/// The API paths multus uses, as the real API server serves them.
public enum KubePaths {
    public static func pod(_ ns: String, _ name: String) -> String { "/api/v1/namespaces/\(ns)/pods/\(name)" }
    public static func podStatus(_ ns: String, _ name: String) -> String { pod(ns, name) + "/status" }
    public static func nads(_ ns: String) -> String { "/apis/k8s.cni.cncf.io/v1/namespaces/\(ns)/network-attachment-definitions" }
    public static func nad(_ ns: String, _ name: String) -> String { nads(ns) + "/" + name }
}

/// Whether this process runs in a pod with a service account (KUBERNETES_SERVICE_HOST/PORT set):
/// what decides, before any client is made, that a plugin needs the API.
public enum InCluster {
    public static func detected(_ env: [String: String]) -> Bool {
        !(env["KUBERNETES_SERVICE_HOST"] ?? "").isEmpty && !(env["KUBERNETES_SERVICE_PORT"] ?? "").isEmpty
    }
}
