import CNI
import Foundation
import Installer
import Kubernetes
import LinuxSystem
import KubernetesClient
import Testing
import TestSupport

let bridgeConflist = #"{"cniVersion":"0.4.0","name":"podman","plugins":[{"type":"bridge","bridge":"cni-podman0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]]}},{"type":"portmap","capabilities":{"portMappings":true}},{"type":"tuning","capabilities":{"mac":true}}]}"#

@Suite struct MultusConfigGeneratorTests {
    @Test func wrapsAConflistAsUpstreamsThinEntrypoint() throws {
        var g = MultusConfigGenerator()
        g.namespaceIsolation = true
        g.globalNamespaces = "default,kube-system"
        g.logLevel = "Verbose"
        g.logToStderr = false
        g.readinessIndicatorFile = "/run/ready"
        g.additionalBinDir = "/opt/extra"
        let out = try g.generate(master: Array(bridgeConflist.utf8), path: "10-bridge.conflist")
        #expect(out.fileName == "00-multus.conf")
        let j = try JSONValue.parse(out.bytes)
        #expect(j["cniVersion"] == "0.4.0" && j["name"] == "multus-cni-network" && j["type"] == "multus")
        #expect(j["capabilities"] == ["mac": true, "portMappings": true])
        #expect(j["namespaceIsolation"] == true && j["globalNamespaces"] == "default,kube-system" && j["logToStderr"] == false)
        #expect(j["logLevel"] == "verbose" && j["readinessindicatorfile"] == "/run/ready" && j["binDir"] == "/opt/extra")
        #expect(j["kubeconfig"] == "/etc/cni/net.d/multus.d/multus.kubeconfig")
        #expect(j["delegates"] == .array([try JSONValue.parse(bridgeConflist)]))
    }

    @Test func specOneMastersGetAConflistAndOptionsFollowUpstream() throws {
        var g = MultusConfigGenerator()
        g.overrideNetworkName = true
        let master = #"{"cniVersion":"1.0.0","name":"net","type":"bridge","capabilities":{"ips":true}}"#
        let out = try g.generate(master: Array(master.utf8), path: "m.conf")
        #expect(out.fileName == "00-multus.conflist")
        let j = try JSONValue.parse(out.bytes)
        #expect(j["name"] == "net" && j["type"] == nil)
        #expect(j["plugins"]?.arrayValue?.first?["type"] == "multus" && j["plugins"]?.arrayValue?.first?["capabilities"] == ["ips": true])
        g.cniVersion = "0.3.1"
        #expect(throws: InstallError.self) { try g.generate(master: Array(master.utf8), path: "m.conf") }
        g.cniVersion = nil
        g.logLevel = "loud"
        #expect(throws: InstallError.self) { try g.generate(master: Array(master.utf8), path: "m.conf") }
        #expect(throws: InstallError.self) { try MultusConfigGenerator().generate(master: Array(#"{"name":"x"}"#.utf8), path: "x") }
    }

    @Test func multusConfigsAreNeverMasters() throws {
        #expect(MultusConfigGenerator.isMultus(name: "00-multus.conf", [:]))
        #expect(MultusConfigGenerator.isMultus(name: "05-other.conf", ["type": "multus"]))
        #expect(MultusConfigGenerator.isMultus(name: "05-other.conflist", ["plugins": [["type": "multus"]]]))
        #expect(!MultusConfigGenerator.isMultus(name: "10-bridge.conflist", try JSONValue.parse(bridgeConflist)))
    }
}

/// A node as the DaemonSet's pod sees it: the host's bin and conf dirs, the image's plugins, the
/// pod's service account.
final class NodeFixture {
    let root: TemporaryDirectory
    var options = Installer.Options()
    let env = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "POD_UID": "0a1b2c3d-uid"]

    init() throws {
        root = try TemporaryDirectory("swcni-inst")
        for d in ["image", "host/opt/cni/bin", "host/etc/cni/net.d", "sa"] {
            try FileManager.default.createDirectory(atPath: root.file(d), withIntermediateDirectories: true)
        }
        for p in ["swift-cni", "swift-cni-full"] {
            try root.write("image/" + p, "#!/bin/sh\necho \(p)\n")
            chmod(root.file("image/" + p), 0o755)
        }
        try root.write("image/README", "not a plugin")
        try root.write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        try root.write("sa/namespace", "swift-cni\n")
        try root.write("host/etc/cni/net.d/10-bridge.conflist", bridgeConflist)
        (options.sourceDir, options.cniBinDir) = (root.file("image"), root.file("host/opt/cni/bin"))
        (options.cniConfDir, options.multusAutoconfigDir) = (root.file("host/etc/cni/net.d"), root.file("host/etc/cni/net.d"))
        options.serviceAccountDir = root.file("sa")
    }
    deinit { root.remove() }

    var conf: String { root.file("host/etc/cni/net.d") }
}

@Suite struct InstallerTests {
    @Test func installCopiesPluginsAndWritesTheConfigs() throws {
        let n = try NodeFixture()
        var i = Installer(n.options, environment: n.env)
        i.log = { _ in }
        try i.install()
        let bin = try FileManager.default.contentsOfDirectory(atPath: n.root.file("host/opt/cni/bin")).sorted()
        #expect(bin == (Installer.plugins + Installer.executables).sorted())
        #expect(try n.root.read("host/opt/cni/bin/swift-cni-full") == "#!/bin/sh\necho swift-cni-full\n")
        for p in Installer.plugins {
            let target = ["multus", "whereabouts"].contains(p) ? "swift-cni-full" : "swift-cni"
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: n.root.file("host/opt/cni/bin/" + p)) == target)
        }
        #expect(FileManager.default.isExecutableFile(atPath: n.root.file("host/opt/cni/bin/bridge")))
        // 00-multus.conf wraps the bridge conflist.
        let multus = try JSONValue.parse(try n.root.read("host/etc/cni/net.d/00-multus.conf"))
        #expect(multus["delegates"]?.arrayValue?.first?["name"] == "podman" && multus["cniVersion"] == "0.4.0")
        // The kubeconfig names kubelet's copy of the token; our own client reads it back.
        let kc = try KubeConnection.kubeconfig(path: n.conf + "/multus.d/multus.kubeconfig")
        #expect(kc.server == "https://[10.96.0.1]:443" && kc.token == nil)
        #expect(kc.tokenFile == "/var/lib/kubelet/pods/0a1b2c3d-uid/volumes/kubernetes.io~projected/swift-cni-token/token")
        #expect(kc.caPEM.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("-----BEGIN CERTIFICATE") == true)
        #expect(kc.configuredNamespace == "swift-cni")
        // whereabouts: its kubeconfig and the flat file pointing at it (host paths).
        #expect(FileManager.default.fileExists(atPath: n.conf + "/whereabouts.d/whereabouts.kubeconfig"))
        let flat = try JSONValue.parse(try n.root.read("host/etc/cni/net.d/whereabouts.d/whereabouts.conf"))
        #expect(flat["kubernetes"]?["kubeconfig"] == "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig")
        #expect(flat["datastore"] == "kubernetes")
    }

    @Test func itNeverWrapsItsOwnOutputAndRewritesOnlyOnChange() throws {
        let n = try NodeFixture()
        var i = Installer(n.options, environment: n.env)
        i.log = { _ in }
        try i.install()
        let first = try n.root.read("host/etc/cni/net.d/00-multus.conf")
        for _ in 0..<5 { #expect(try i.writeMultusConfig() == false) }
        #expect(try n.root.read("host/etc/cni/net.d/00-multus.conf") == first)
        // A fresh installer (a restarted pod) still wraps the bridge, not 00-multus.conf.
        var again = Installer(n.options, environment: n.env)
        again.log = { _ in }
        try again.install()
        #expect(try n.root.read("host/etc/cni/net.d/00-multus.conf") == first)
        // The master changes: regenerated; to spec 1.0.0: the conflist form replaces the conf.
        try n.root.write("host/etc/cni/net.d/10-bridge.conflist", bridgeConflist.replacingOccurrences(of: "0.4.0", with: "1.0.0"))
        #expect(try again.writeMultusConfig() == true)
        #expect(!FileManager.default.fileExists(atPath: n.conf + "/00-multus.conf"))
        #expect(try JSONValue.parse(try n.root.read("host/etc/cni/net.d/00-multus.conflist"))["cniVersion"] == "1.0.0")
    }

    @Test func missingPiecesAreClearErrors() throws {
        let n = try NodeFixture()
        var noUID = Installer(n.options, environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        noUID.log = { _ in }
        #expect(throws: InstallError.self) { try noUID.install() }
        var notInPod = Installer(n.options, environment: [:])
        notInPod.log = { _ in }
        #expect(throws: InstallError.self) { try notInPod.install() }
        var o = n.options
        o.cniBinDir = n.root.file("nope")
        var noBin = Installer(o, environment: n.env)
        noBin.log = { _ in }
        #expect(throws: InstallError.self) { try noBin.install() }
        o = n.options
        o.sourceDir = n.root.file("sa")
        var noExecutable = Installer(o, environment: n.env)
        noExecutable.log = { _ in }
        #expect(throws: InstallError.self) { try noExecutable.install() }
        // An explicit token path needs no POD_UID.
        o = n.options
        o.tokenFileHost = "/run/token"
        var explicit = Installer(o, environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"])
        explicit.log = { _ in }
        try explicit.install()
        #expect(try KubeConnection.kubeconfig(path: n.conf + "/multus.d/multus.kubeconfig").tokenFile == "/run/token")
    }

    /// The names the installer links are the names the multi-call executable answers to.
    @Test func linksEveryNameSwiftCNIAnswersTo() throws {
        let out = try Subprocess.run(BuildProducts.path("swift-cni"), arguments: ["--list"], environment: [])
        #expect(String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").map(String.init) == Installer.plugins)
    }

    @Test func theExecutableWatchesAndCleansUpOnSIGTERM() throws {
        let n = try NodeFixture()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuildProducts.path("swift-cni-install"))
        p.arguments = ["--cni-bin-dir", n.options.cniBinDir, "--cni-conf-dir", n.conf, "--multus-autoconfig-dir", n.conf,
                       "--source-dir", n.options.sourceDir, "--service-account-dir", n.options.serviceAccountDir, "--cleanup-config-on-exit"]
        p.environment = n.env
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        func waitFor(_ what: () -> Bool) -> Bool {
            for _ in 0..<100 { if what() { return true }; usleep(50_000) }
            return false
        }
        let out = n.conf + "/00-multus.conf"
        #expect(waitFor { FileManager.default.fileExists(atPath: out) })
        // The master is edited: the next tick rewrites 00-multus.conf.
        try n.root.write("host/etc/cni/net.d/10-bridge.conflist", bridgeConflist.replacingOccurrences(of: "10.88.0.0/16", with: "10.89.0.0/16"))
        #expect(waitFor { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("10.89.0.0/16") })
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(FileManager.default.fileExists(atPath: n.options.cniBinDir + "/multus"))
    }
}
