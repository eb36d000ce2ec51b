import CNI
import CNIInvoke
import Kubernetes
import KubernetesClient
import Multus
import PluginKit

extension KubeClient: ClusterAPI {
    public func podDevices(_ pod: Pod, kubeletRoot: String) throws(CNIError) -> PodDevices {
        try KubeletPodResources.devices(of: pod, kubeletRoot: kubeletRoot)
    }
}

extension MultusPlugin {
    /// multus with the Kubernetes client: the kubeconfig the config names, else the pod's service
    /// account when in a cluster, else none (static delegates only; pod annotations are not read).
    public static func withKubernetes(invoker: any PluginInvoker = ExecPluginInvoker()) -> MultusPlugin {
        MultusPlugin(invoker: invoker, api: kubernetesAPI)
    }

    @Sendable public static func kubernetesAPI(_ conf: MultusConfig, _ r: PluginRequest) throws -> (any ClusterAPI)? {
        if let path = conf.kubeconfig { return KubeClient(try KubeConnection.kubeconfig(path: path)) }
        return try KubeConnection.inCluster(environment: r.environment).map(KubeClient.init)
    }
}
