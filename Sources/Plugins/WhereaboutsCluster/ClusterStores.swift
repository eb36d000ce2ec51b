import KubernetesClient
import Whereabouts

extension WhereaboutsPlugin {
    /// whereabouts with every datastore: the file store, etcd and the Kubernetes CRDs.
    public static func withClusterStores(flatFiles: [String] = WhereaboutsConfig.flatFilePaths) -> WhereaboutsPlugin {
        WhereaboutsPlugin(flatFiles: flatFiles) { c, _ in try store(for: c) }
    }

    /// The config's datastore: the Kubernetes or etcd client is made only for its own.
    public static func store(for c: WhereaboutsConfig) throws -> any WhereaboutsStore {
        switch c.datastore {
        case .file:
            return try FileStore(dataDir: c.dataDir)
        case .kubernetes(let kubeconfig):
            let connection = try KubeConnection.kubeconfig(path: kubeconfig)
            return KubernetesStore(client: KubeClient(connection), namespace: connection.configuredNamespace ?? "kube-system")
        case .etcd(let settings):
            return try EtcdStore(settings, hints: (c.dataDir.hasSuffix("/") ? c.dataDir : c.dataDir + "/") + "etcd-hints")
        }
    }
}
