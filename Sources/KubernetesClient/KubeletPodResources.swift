import HTTPBridge
import Kubernetes
import LinuxSystem
import NIOCore

/// The devices kubelet allocated to a pod, as upstream multus finds them: kubelet's
/// PodResources API on `<root>/pod-resources/kubelet.sock` (`v1.PodResourcesLister/List`,
/// the pod matched by namespace and name) when that socket exists, else the device manager's
/// checkpoint `<root>/device-plugins/kubelet_internal_checkpoint` (matched by the pod's UID).
public enum KubeletPodResources {
    public static let defaultRootDirectory = "/var/lib/kubelet"

    public static func devices(of pod: Pod, kubeletRoot: String = defaultRootDirectory,
                               timeoutSeconds: Int64 = 10) throws(KubeError) -> PodDevices {
        let socket = kubeletRoot + "/pod-resources/kubelet.sock"
        if FileSystem.exists(socket) {
            let operation = "list pod resources on \(socket)"
            let body: [UInt8]
            do {
                // ListPodResourcesRequest has no fields: an empty message.
                body = try BlockingGRPC.call(unixSocket: socket, path: "/v1.PodResourcesLister/List",
                                             request: GRPCFrame.encode([]), timeout: .seconds(timeoutSeconds))
            } catch {
                switch error {
                case .transport(let m): throw KubeError(.transport, operation, m)
                case .status(let code, let m): throw KubeError(.invalidResponse, operation, "gRPC status \(code): \(m)")
                }
            }
            guard let message = try GRPCFrame.decode(body) else {
                throw KubeError(.invalidResponse, operation, "a truncated message (\(body.count) bytes)")
            }
            return try PodDevices.fromListResponse(message, namespace: pod.namespace, name: pod.name)
        }
        let checkpoint = kubeletRoot + "/device-plugins/kubelet_internal_checkpoint"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(checkpoint, atMost: 16 << 20)
        } catch {
            throw KubeError(.transport, "read kubelet's devices", "neither \(socket) nor \(checkpoint): \(error)")
        }
        guard !pod.uid.isEmpty else { throw KubeError(.invalidResponse, "read \(checkpoint)", "the pod has no UID to look up") }
        return try PodDevices.fromCheckpoint(bytes, podUID: pod.uid)
    }
}
