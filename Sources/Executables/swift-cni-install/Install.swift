import ArgumentParser
import Basics
import Glibc
import Installer
import LinuxSystem

/// The node image's entrypoint: multus-cni thin_entrypoint's flags, plus ours for whereabouts
/// and the token path.
@main
struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-cni-install",
        abstract: "Install swift-cni's plugins and multus/whereabouts configuration on a Kubernetes node.",
        version: SwiftCNI.version)

    @Option(help: "CNI binary directory") var cniBinDir = "/host/opt/cni/bin"
    @Option(help: "CNI config directory") var cniConfDir = "/host/etc/cni/net.d"
    @Option(help: "CNI version for multus CNI config (must match the master's)") var cniVersion = ""
    @Option(help: "multus CNI config file, or auto") var multusConfFile = "auto"
    @Flag(help: "skip multus binary file copy") var skipMultusBinaryCopy = false
    @Option(help: "kubeconfig for multus as the host sees it") var multusKubeconfigFileHost = "/etc/cni/net.d/multus.d/multus.kubeconfig"
    @Option(help: "master CNI file in multus-autoconfig-dir") var multusMasterCniFileName = ""
    @Flag(help: "namespace isolation") var namespaceIsolation = false
    @Option(help: "global namespaces, comma separated (with --namespace-isolation)") var globalNamespaces = ""
    @Option(help: "multus autoconfig dir") var multusAutoconfigDir = "/host/etc/cni/net.d"
    @Option(help: "log to stderr (true/false)") var multusLogToStderr = "true"
    @Option(help: "multus log level") var multusLogLevel = ""
    @Option(help: "multus log file") var multusLogFile = ""
    @Flag(help: "name the multus network as the master") var overrideNetworkName = false
    @Flag(help: "remove 00-multus.conf on exit") var cleanupConfigOnExit = false
    @Flag(help: "rename the master config to <name>.old") var renameConfFile = false
    @Option(help: "readiness indicator file") var readinessIndicatorFile = ""
    @Option(help: "adds binDir to the multus configuration") var additionalBinDir = ""
    @Flag(help: "skip TLS verification of the API server") var skipTlsVerify = false
    // Ours.
    @Option(help: "where the plugins to install are (default: next to this executable)") var sourceDir = ""
    @Option(help: "the service-account token as the host sees it (default: kubelet's copy of the pod's projected volume)") var tokenFileHost = ""
    @Option(help: "kubelet's root directory on the host") var kubeletDir = "/var/lib/kubelet"
    @Option(help: "the projected volume holding the token") var tokenVolume = "swift-cni-token"
    @Option(help: "the service account as this pod sees it") var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
    @Option(help: "whereabouts kubeconfig as the host sees it") var whereaboutsKubeconfigFileHost = "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"
    @Option(help: "namespace of whereabouts' objects (default: this pod's)") var whereaboutsNamespace = ""
    @Flag(help: "do not write whereabouts' kubeconfig and flat file") var skipWhereabouts = false
    @Flag(help: "install once and exit (no watch loop)") var once = false

    func run() throws {
        var o = Installer.Options()
        (o.cniBinDir, o.cniConfDir, o.multusConfFile, o.multusAutoconfigDir) = (cniBinDir, cniConfDir, multusConfFile, multusAutoconfigDir)
        (o.multusMasterCNIFileName, o.multusKubeconfigFileHost) = (multusMasterCniFileName, multusKubeconfigFileHost)
        (o.skipMultusBinaryCopy, o.cleanupConfigOnExit, o.renameConfFile, o.skipTLSVerify) = (skipMultusBinaryCopy, cleanupConfigOnExit, renameConfFile, skipTlsVerify)
        (o.sourceDir, o.tokenFileHost, o.kubeletDir, o.tokenVolume, o.serviceAccountDir) = (sourceDir, tokenFileHost, kubeletDir, tokenVolume, serviceAccountDir)
        (o.whereaboutsKubeconfigFileHost, o.whereaboutsNamespace, o.whereabouts) = (whereaboutsKubeconfigFileHost, whereaboutsNamespace, !skipWhereabouts)
        var g = MultusConfigGenerator()
        g.cniVersion = cniVersion.isEmpty ? nil : cniVersion
        (g.overrideNetworkName, g.namespaceIsolation, g.globalNamespaces) = (overrideNetworkName, namespaceIsolation, globalNamespaces)
        (g.logToStderr, g.logLevel, g.logFile) = (multusLogToStderr != "false", multusLogLevel, multusLogFile)
        (g.additionalBinDir, g.readinessIndicatorFile, g.kubeconfigOnHost) = (additionalBinDir, readinessIndicatorFile, multusKubeconfigFileHost)
        o.generator = g
        var installer = Installer(o, environment: ProcessEnvironment.current())
        do { try installer.run(once: once) } catch {
            FileSystem.writeStderr("swift-cni-install: \(error)\n")
            throw ExitCode.failure
        }
    }
}
