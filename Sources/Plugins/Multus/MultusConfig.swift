import Basics
import CNI
import Kubernetes
import PluginKit

/// multus's configuration (meta-and-openshift-plugins §1), every key of the thin plugin's:
/// `clusterNetwork` or `delegates` (the master is the first), `defaultNetworks`, `kubeconfig`,
/// `confDir`, `cniDir`, `binDir`, `namespaceIsolation`, `globalNamespaces`, `systemNamespaces`,
/// `multusNamespace`, `readinessindicatorfile`, `logFile`/`logLevel`/`logToStderr`/`logOptions`,
/// `capabilities`/`runtimeConfig` (for the master), `retryDeleteOnError`, `auxiliaryCNIChainName`;
/// and ours: `kubeletRootDir` (kubelet's `--root-dir`, where its PodResources socket and device
/// checkpoint are; upstream hard-codes /var/lib/kubelet, which MicroK8s and others move) and
/// `deviceInfoDir` (the NPWG device-info directory, /var/run/k8s.cni.cncf.io/devinfo).
public struct MultusConfig: Sendable {
    public var name: String
    public var cniVersion: String
    public var clusterNetwork: String?
    public var defaultNetworks: [String]
    /// Static delegates (conf or conflist objects), used when there is no clusterNetwork.
    public var delegates: [JSONObject]
    public var kubeconfig: String?
    public var confDir: String
    public var cniDir: String
    public var binDir: String
    public var namespaceIsolation: Bool
    public var globalNamespaces: [String]
    public var systemNamespaces: [String]
    public var multusNamespace: String
    public var readinessIndicatorFile: String?
    public var logFile: String?
    public var logLevel: String
    /// `logOptions` {maxSize (MB), maxBackups, maxAge (days), compress}.
    public var logRotation: PluginLog.Rotation?
    public var logToStderr: Bool
    /// The runtime's capability arguments for the master (runtimeConfig).
    public var runtimeConfig: JSONObject
    public var retryDeleteOnError: Bool
    public var auxiliaryCNIChainName: String?
    public var kubeletRootDir: String
    public var deviceInfoDir: String

    public static let defaultConfDir = "/etc/cni/multus/net.d"
    public static let defaultCNIDir = "/var/lib/cni/multus"
    public static let defaultBinDir = "/opt/cni/bin"

    public init(_ conf: NetConf) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        name = conf.name
        cniVersion = conf.cniVersionString
        clusterNetwork = try r.string("clusterNetwork").flatMap { $0.isEmpty ? nil : $0 }
        defaultNetworks = try r.stringArray("defaultNetworks") ?? []
        delegates = []
        for (i, d) in (try r.array("delegates") ?? []).enumerated() {
            guard let o = d.objectValue else { throw r.fail("delegates[\(i)]", "expected an object") }
            delegates.append(o)
        }
        if clusterNetwork == nil && delegates.isEmpty {
            throw CNIError.invalidConfig("multus: either clusterNetwork or delegates must be set")
        }
        kubeconfig = try r.string("kubeconfig").flatMap { $0.isEmpty ? nil : $0 }
        confDir = try Self.path(r, "confDir") ?? Self.defaultConfDir
        cniDir = try Self.path(r, "cniDir") ?? Self.defaultCNIDir
        try Names.validateDataDirectory(cniDir, key: "cniDir")
        binDir = try Self.path(r, "binDir") ?? Self.defaultBinDir
        namespaceIsolation = try r.bool("namespaceIsolation") ?? false
        // A comma string; setting it replaces "default".
        let globals = try r.string("globalNamespaces") ?? ""
        globalNamespaces = globals.isEmpty ? ["default"]
            : globals.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
        systemNamespaces = try r.stringArray("systemNamespaces") ?? ["kube-system"]
        multusNamespace = try r.string("multusNamespace").flatMap { $0.isEmpty ? nil : $0 } ?? "kube-system"
        readinessIndicatorFile = try r.string("readinessindicatorfile").flatMap { $0.isEmpty ? nil : $0 }
        logFile = try r.string("logFile").flatMap { $0.isEmpty ? nil : $0 }
        logLevel = try r.string("logLevel") ?? "panic"
        if let o = try r.object("logOptions") {
            let lr = r.child("logOptions", .object(o))
            let size = try lr.int("maxSize", in: 0...1_000_000), backups = try lr.int("maxBackups", in: 0...1_000_000)
            let age = try lr.int("maxAge", in: 0...1_000_000)
            _ = try lr.bool("compress")
            logRotation = PluginLog.Rotation(maxSizeMB: size ?? 100, maxBackups: backups ?? 0, maxAgeDays: age ?? 0)
        }
        logToStderr = try r.bool("logToStderr") ?? true
        runtimeConfig = conf.runtimeConfig
        retryDeleteOnError = try r.bool("retryDeleteOnError") ?? false
        auxiliaryCNIChainName = try r.string("auxiliaryCNIChainName").flatMap { $0.isEmpty ? nil : $0 }
        kubeletRootDir = try Self.path(r, "kubeletRootDir") ?? "/var/lib/kubelet"
        deviceInfoDir = try Self.path(r, "deviceInfoDir") ?? DeviceInfoFiles.defaultDirectory
    }

    static func path(_ r: JSONReader, _ key: String) throws(CNIError) -> String? {
        guard let p = try r.string(key), !p.isEmpty else { return nil }
        return p
    }
}
