import CNI
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

    /// kubelet not answering (yet) is "try again later" (11); an answer that cannot be used, or a
    /// refusal that will not change, is ours (120).
    public static func devices(of pod: Pod, kubeletRoot: String = defaultRootDirectory,
                               timeoutSeconds: Int64 = 10) throws(CNIError) -> PodDevices {
        let socket = kubeletRoot + "/pod-resources/kubelet.sock"
        if FileSystem.exists(socket) {
            let failed = "multus: cannot list the pod's devices on kubelet's PodResources API (\(socket))"
            let body: [UInt8]
            do {
                // ListPodResourcesRequest has no fields: an empty message.
                body = try BlockingGRPC.call(unixSocket: socket, path: "/v1.PodResourcesLister/List",
                                             request: GRPCFrame.encode([]), timeout: .seconds(timeoutSeconds))
            } catch {
                switch error {
                case .transport(let m), .tls(let m): throw CNIError(.tryAgainLater, failed, details: m)
                case .status(let code, _) where transientGRPCStatuses.contains(code):
                    throw CNIError(.tryAgainLater, failed, details: error.description)
                case .status, .invalid: throw CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: failed, details: error.description)
                }
            }
            do {
                guard let message = try GRPCFrame.decode(body) else {
                    throw KubeError(.invalidResponse, "read the answer", "a truncated message (\(body.count) bytes)")
                }
                return try PodDevices.fromListResponse(message, namespace: pod.namespace, name: pod.name)
            } catch {
                throw CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: failed, details: "\(error)")
            }
        }
        let checkpoint = kubeletRoot + "/device-plugins/kubelet_internal_checkpoint"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(checkpoint, atMost: 16 << 20)
        } catch {
            throw CNIError(.tryAgainLater, "multus: kubelet's devices cannot be read",
                           details: "neither \(socket) nor \(checkpoint): \(error)")
        }
        let failed = "multus: cannot read the pod's devices from kubelet's checkpoint \(checkpoint)"
        guard !pod.uid.isEmpty else {
            throw CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: failed, details: "the pod has no UID to look up")
        }
        do { return try PodDevices.fromCheckpoint(bytes, podUID: pod.uid) } catch {
            throw CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: failed, details: error.description)
        }
    }

    /// UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED: worth another try.
    static let transientGRPCStatuses: Set<Int> = [14, 4, 8, 10]
}
