import Basics
import CNI
import Glibc
import LinuxSystem

/// swift-cni's node installer (the DaemonSet's entrypoint; multus-cni's thin_entrypoint, flag for
/// flag): copies every plugin into the host's CNI bin dir atomically, writes the kubeconfig
/// multus and whereabouts read (pointing at the service-account token kubelet keeps fresh, never
/// a copy of it), whereabouts' flat file, and in auto mode `00-multus.conf` wrapping the node's
/// first network config; then watches and rewrites what changed, and removes `00-multus.conf`
/// on SIGTERM when asked (multus#1429: a leftover one breaks every pod).
public struct Installer {
    public struct Options: Sendable {
        public var cniBinDir = "/host/opt/cni/bin"
        public var cniConfDir = "/host/etc/cni/net.d"
        public var multusConfFile = "auto"
        public var multusAutoconfigDir = "/host/etc/cni/net.d"
        public var multusMasterCNIFileName = ""
        public var multusKubeconfigFileHost = "/etc/cni/net.d/multus.d/multus.kubeconfig"
        public var whereaboutsKubeconfigFileHost = "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"
        public var whereabouts = true
        public var whereaboutsNamespace = ""
        public var skipMultusBinaryCopy = false
        public var cleanupConfigOnExit = false
        public var renameConfFile = false
        public var skipTLSVerify = false
        /// Where the plugins to install are (default: next to the installer).
        public var sourceDir = ""
        /// The service account as the installer's pod sees it.
        public var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
        /// The token as the host sees it; default: kubelet's copy of the pod's projected volume
        /// `tokenVolume` (`<kubeletDir>/pods/$POD_UID/volumes/kubernetes.io~projected/<volume>/token`).
        public var tokenFileHost = ""
        public var kubeletDir = "/var/lib/kubelet"
        public var tokenVolume = "swift-cni-token"
        public var generator = MultusConfigGenerator()
        public init() {}
    }

    /// The two multi-call executables an install copies (PluginKit's Handoff: the per-pod one and
    /// the full one it hands cluster clients and daemons to), and the plugin names linked to the
    /// first (as `swift-cni --list` prints them).
    public static let executables = ["swift-cni", "swift-cni-full"]
    /// In a cluster, multus and whereabouts always talk to the API server: linked straight to
    /// swift-cni-full, so no pod pays the hand-over (a .deb on a host links them to swift-cni).
    public static let clusterPlugins = ["multus", "whereabouts"]
    public static let plugins = ["bridge", "dhcp", "egress-router", "host-device", "host-local", "ipvlan", "macvlan",
                                 "multus", "passthru", "route-override", "static", "whereabouts"]

    public var options: Options
    public let environment: [String: String]
    /// What the last pass wrote, to write again only on change.
    var lastMaster: (path: String, bytes: [UInt8])?
    var lastKubeconfig: [UInt8]?
    public var log: (String) -> Void = { FileSystem.writeStderr("swift-cni-install: " + $0 + "\n") }

    public init(_ options: Options, environment: [String: String]) {
        self.options = options
        self.environment = environment
    }

    // MARK: binaries

    /// Copies the executables to `<binDir>` and links each plugin name to `swift-cni` there, each
    /// through a temporary name in the same directory, so a runtime exec'ing a plugin meanwhile
    /// finds the old file or the new one, never half of one (and never a link to a missing file:
    /// the executables go first).
    public func copyPlugins() throws {
        guard FileSystem.isDirectory(options.cniBinDir) else { throw InstallError("cni-bin-dir is not found: \(options.cniBinDir)") }
        let source = options.sourceDir.isEmpty ? ((try? Exec.ownDirectory()) ?? "") : options.sourceDir
        guard FileSystem.isExecutableFile(source + "/swift-cni") else { throw InstallError("no swift-cni executable in \(source)") }
        var copied: [String] = []
        for name in Self.executables where FileSystem.isExecutableFile(source + "/" + name) {
            try Self.copyAtomically(source + "/" + name, to: options.cniBinDir + "/" + name, mode: 0o755)
            copied.append(name)
        }
        var linked: [String] = []
        for name in Self.plugins where !(name == "multus" && options.skipMultusBinaryCopy) {
            let target = Self.clusterPlugins.contains(name) && copied.contains("swift-cni-full") ? "swift-cni-full" : "swift-cni"
            try Self.linkAtomically(options.cniBinDir + "/" + name, to: target)
            linked.append(name)
        }
        log("installed \(copied.joinedWith(", ")) into \(options.cniBinDir), as \(linked.joinedWith(", "))")
    }

    /// `path` becomes a symbolic link to `target` (replacing a file or link in one rename).
    static func linkAtomically(_ path: String, to target: String) throws {
        let temp = FileSystem.directoryName(path) + "/." + FileSystem.baseName(path) + ".swift-cni-new-\(getpid())"
        _ = unlink(temp)
        guard symlink(target, temp) == 0 else { throw SystemError("symlink", subject: temp) }
        try FileSystem.rename(temp, path)
    }

    static func copyAtomically(_ from: String, to: String, mode: mode_t) throws {
        let bytes = try FileSystem.read(from)
        // A temporary name of this process's own: two installers at once (old and new DaemonSet
        // pods) never write the same file.
        let temp = FileSystem.directoryName(to) + "/." + FileSystem.baseName(to) + ".swift-cni-new-\(getpid())"
        do { try FileSystem.writeNew(temp, bytes, mode: mode) } catch {
            _ = unlink(temp)
            throw error
        }
        _ = chmod(temp, mode)
        let fd = open(temp, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
        try FileSystem.rename(temp, to)
    }

    // MARK: kubeconfig

    /// The token's path on the host.
    func tokenFileOnHost() throws -> String {
        if !options.tokenFileHost.isEmpty { return options.tokenFileHost }
        guard let uid = environment["POD_UID"], !uid.isEmpty else {
            throw InstallError("set POD_UID (downward API) or --token-file-host: the kubeconfig names the token kubelet keeps fresh, not a copy")
        }
        return "\(options.kubeletDir)/pods/\(uid)/volumes/kubernetes.io~projected/\(options.tokenVolume)/token"
    }

    /// The kubeconfig for multus and whereabouts: the API server from KUBERNETES_SERVICE_*, the
    /// service account's CA inline, `tokenFile:` the host path of the pod's token, and the
    /// namespace whereabouts keeps its objects in.
    public func kubeconfig() throws -> [UInt8] {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw InstallError("KUBERNETES_SERVICE_HOST/PORT are not set: not running in a pod?")
        }
        let scheme = environment["KUBERNETES_SERVICE_PROTOCOL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https"
        let tls: String
        if options.skipTLSVerify {
            tls = "insecure-skip-tls-verify: true"
        } else {
            let ca: [UInt8]
            do { ca = try FileSystem.read(options.serviceAccountDir + "/ca.crt") } catch {
                throw InstallError("service account ca is not found: \(error)")
            }
            tls = "certificate-authority-data: " + Base64.encode(ca)
        }
        let namespace = try whereaboutsNamespace()
        let text = """
            # Written by swift-cni-install for multus and whereabouts: the token is kubelet's, read on every use.
            apiVersion: v1
            kind: Config
            clusters:
            - name: local
              cluster:
                server: "\(scheme)://[\(host)]:\(port)"
                \(tls)
            users:
            - name: swift-cni
              user:
                tokenFile: "\(try tokenFileOnHost())"
            contexts:
            - name: swift-cni
              context:
                cluster: local
                user: swift-cni
                namespace: "\(namespace)"
            current-context: swift-cni

            """
        return Array(text.utf8)
    }

    func whereaboutsNamespace() throws -> String {
        if !options.whereaboutsNamespace.isEmpty { return options.whereaboutsNamespace }
        let text = (try? FileSystem.read(options.serviceAccountDir + "/namespace")).map { String(decoding: $0, as: UTF8.self).trimmingWhitespace } ?? ""
        return text.isEmpty ? "kube-system" : text
    }

    /// The container path of a host path under the conf dir (the DaemonSet mounts the host's
    /// /etc/cni/net.d at `cniConfDir`).
    func inConfDir(_ hostPath: String, hostConfDir: String = "/etc/cni/net.d") -> String {
        hostPath.hasPrefix(hostConfDir + "/") ? options.cniConfDir + hostPath.dropFirst(hostConfDir.count) : hostPath
    }

    /// Writes the kubeconfigs (and whereabouts' flat file) when their content changed.
    public mutating func writeKubeconfigs() throws {
        let bytes = try kubeconfig()
        if bytes == lastKubeconfig { return }
        var paths = [inConfDir(options.multusKubeconfigFileHost)]
        if options.whereabouts { paths.append(inConfDir(options.whereaboutsKubeconfigFileHost)) }
        for path in paths {
            try FileSystem.makeDirectories(FileSystem.directoryName(path), mode: 0o755)
            try FileSystem.writeAtomically(path, bytes, mode: 0o600)
        }
        if options.whereabouts {
            let flat: JSONValue = ["datastore": "kubernetes", "kubernetes": ["kubeconfig": .string(options.whereaboutsKubeconfigFileHost)],
                                   "reconciler_cron_expression": "30 4 * * *"]
            try FileSystem.writeAtomically(FileSystem.directoryName(inConfDir(options.whereaboutsKubeconfigFileHost)) + "/whereabouts.conf",
                                           flat.prettyPrinted() + [0x0A], mode: 0o644)
        }
        lastKubeconfig = bytes
        log("kubeconfig written: \(paths.joinedWith(", "))")
    }

    // MARK: 00-multus.conf

    /// The node's network config multus wraps: `--multus-master-cni-file-name`, else the first
    /// .conf/.conflist/.json by name that is not multus's own.
    public func findMaster() throws -> (path: String, bytes: [UInt8])? {
        let dir = options.multusAutoconfigDir
        let names: [String]
        do { names = try FileSystem.list(dir).sorted() } catch { throw InstallError("cannot read \(dir): \(error)") }
        for name in names where name.hasSuffix(".conf") || name.hasSuffix(".conflist") || name.hasSuffix(".json") {
            if !options.multusMasterCNIFileName.isEmpty && name != options.multusMasterCNIFileName { continue }
            let path = dir + "/" + name
            guard let bytes = try? FileSystem.read(path), let json = try? JSONValue.parse(bytes) else { continue }
            if MultusConfigGenerator.isMultus(name: name, json) { continue }
            return (path, bytes)
        }
        return nil
    }

    /// Writes 00-multus.conf(list) when the master changed; true when it wrote.
    @discardableResult
    public mutating func writeMultusConfig() throws -> Bool {
        guard let master = try findMaster() else {
            if lastMaster == nil { log("no master CNI config in \(options.multusAutoconfigDir) yet; waiting") }
            return false
        }
        if let last = lastMaster, last.path == master.path, last.bytes == master.bytes { return false }
        let out = try options.generator.generate(master: master.bytes, path: master.path)
        try FileSystem.writeAtomically(options.cniConfDir + "/" + out.fileName, out.bytes, mode: 0o644)
        // The other form, left by a master of another version, would shadow or duplicate it.
        for other in MultusConfigGenerator.outputNames where other != out.fileName {
            try? FileSystem.remove(options.cniConfDir + "/" + other)
        }
        lastMaster = master
        log("\(out.fileName) written, wrapping \(master.path)")
        if options.renameConfFile {
            try FileSystem.rename(master.path, master.path + ".old")
            log("master config moved to \(master.path).old")
        }
        return true
    }

    public func removeMultusConfig() {
        for name in MultusConfigGenerator.outputNames { try? FileSystem.remove(options.cniConfDir + "/" + name) }
        log("removed 00-multus.conf")
    }

    // MARK: passes

    /// One pass: what a start does, and what each watch tick repeats (binaries excepted).
    public mutating func pass() throws {
        if options.multusConfFile == "auto" {
            try writeKubeconfigs()
            try writeMultusConfig()
        }
    }

    /// The first pass: binaries, then the configs (a user-given multus config is copied as is).
    public mutating func install() throws {
        guard FileSystem.isDirectory(options.cniConfDir) else { throw InstallError("cni-conf-dir is not found: \(options.cniConfDir)") }
        try copyPlugins()
        if options.multusConfFile != "auto" {
            guard FileSystem.exists(options.multusConfFile) else { throw InstallError("multus-conf-file is not found: \(options.multusConfFile)") }
            try Self.copyAtomically(options.multusConfFile, to: options.cniConfDir + "/" + FileSystem.baseName(options.multusConfFile), mode: 0o644)
            log("copied \(options.multusConfFile) into \(options.cniConfDir)")
        }
        try pass()
    }

    /// Installs, then re-checks every `interval` seconds until SIGTERM or SIGINT; then removes
    /// 00-multus.conf when `cleanupConfigOnExit`. Signals are taken with sigtimedwait, so the
    /// loop sleeps and wakes for them without a handler.
    public mutating func run(interval: Int = 1, once: Bool = false) throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        try install()
        if once { return }
        var timeout = timespec(tv_sec: interval, tv_nsec: 0)
        while true {
            let sig = sigtimedwait(&signals, nil, &timeout)
            if sig == SIGTERM || sig == SIGINT {
                if options.cleanupConfigOnExit && options.multusConfFile == "auto" { removeMultusConfig() }
                log("exiting on signal \(sig)")
                return
            }
            do { try pass() } catch { log("\(error)") }
        }
    }
}
