import CNI
import Kubernetes
import LinuxSystem
import NIOHTTP1

/// The object calls of the plugins: pods, their status and events, NetworkAttachmentDefinitions.
extension KubeClient {
    public func pod(namespace: String, name: String) throws(KubeError) -> Pod {
        guard let json = try call(.GET, KubePaths.pod(namespace, name)).json else {
            throw KubeError(.invalidResponse, "GET pod \(namespace)/\(name)", "not JSON")
        }
        return try Pod(json: json)
    }

    /// Sets (or with nil, removes) annotations of a pod through its status subresource, as one
    /// JSON merge patch: no read-modify-write, so no lost update and no conflict to retry.
    public func patchPodAnnotations(namespace: String, name: String, _ annotations: [String: String?]) throws(KubeError) {
        var a = JSONObject()
        for (k, v) in annotations.sorted(by: { $0.key < $1.key }) { a[k] = v.map { .string($0) } ?? .null }
        let patch: JSONValue = ["metadata": ["annotations": .object(a)]]
        _ = try call(.PATCH, KubePaths.podStatus(namespace, name), body: patch, contentType: "application/merge-patch+json")
    }

    /// Posts a Normal event about the pod, named as client-go's recorder names them
    /// (`<pod>.<hex of the time in ns>`), reported by `component`.
    public func recordPodEvent(_ pod: Pod, reason: String, message: String, component: String) throws(KubeError) {
        let now = WallClock.now()
        let nanos = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        let stamp = JSONValue.string(WallClock.rfc3339(seconds: now.tv_sec))
        let event: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(pod.name + "." + String(nanos, radix: 16)), "namespace": .string(pod.namespace)],
            "involvedObject": ["apiVersion": "v1", "kind": "Pod", "namespace": .string(pod.namespace), "name": .string(pod.name),
                               "uid": .string(pod.uid)],
            "reason": .string(reason), "message": .string(message), "type": "Normal",
            "source": ["component": .string(component)], "reportingComponent": .string(component),
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        ]
        _ = try call(.POST, "/api/v1/namespaces/\(pod.namespace)/events", body: event)
    }

    public func networkAttachmentDefinition(namespace: String, name: String) throws(KubeError) -> NetworkAttachmentDefinition {
        guard let json = try call(.GET, KubePaths.nad(namespace, name)).json else {
            throw KubeError(.invalidResponse, "GET network-attachment-definition \(namespace)/\(name)", "not JSON")
        }
        return try NetworkAttachmentDefinition(json: json)
    }

    public func networkAttachmentDefinitions(namespace: String) throws(KubeError) -> [NetworkAttachmentDefinition] {
        guard let items = try call(.GET, KubePaths.nads(namespace)).json?["items"]?.arrayValue else {
            throw KubeError(.invalidResponse, "LIST network-attachment-definitions in \(namespace)", "no items")
        }
        var out: [NetworkAttachmentDefinition] = []
        for item in items { out.append(try NetworkAttachmentDefinition(json: item)) }
        return out
    }
}
