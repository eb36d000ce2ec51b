import CNI
import Foundation
import Installer
import Testing
import TestSupport
import Yams

/// Conf/kubernetes: valid Kubernetes objects, and a DaemonSet that mounts what the installer writes.
@Suite struct ManifestTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Conf/kubernetes").path
    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted().map { dir + "/" + $0 }
    }
    static let validator = ["/usr/local/bin", "/root/.pyenv/shims", "/usr/bin"].map { $0 + "/kubernetes-validate" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// kubernetes-validate (PyPI; Integration/setup.sh installs it) against the Kubernetes
    /// schemas, strict: unknown fields are errors.
    @Test(.enabled(if: validator != nil || ProcessInfo.processInfo.environment["CI"] == "true"))
    func manifestsPassKubernetesValidate() throws {
        let tool = try #require(Self.validator, "kubernetes-validate is not installed")
        #expect(Self.files.count == 5)
        let out = try Command.run([tool, "--strict", "--quiet"] + Self.files, env: ["PATH": "/usr/bin:/bin"])
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
    }

    func documents(_ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: Self.dir + "/" + name, encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    @Test func theDHCPDaemonSetGivesTheDaemonItsSocketNamespacesAndState() throws {
        let ds = try #require(try documents("40-dhcp-daemon.yaml").first)
        let pod = try #require(((ds["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let command = try #require(container["command"] as? [String])
        #expect(Array(command.prefix(2)) == ["/usr/libexec/swift-cni/dhcp", "daemon"])   // where the Containerfile puts it
        func arg(_ flag: String) -> String? { command.firstIndex(of: flag).flatMap { $0 + 1 < command.count ? command[$0 + 1] : nil } }
        let mounts = ((container["volumeMounts"] as? [[String: Any]]) ?? []).map { ($0["name"] as! String, $0["mountPath"] as! String) }
        let volumes = Dictionary(uniqueKeysWithValues: ((pod["volumes"] as? [[String: Any]]) ?? []).map { ($0["name"] as! String, $0) })
        func hostPath(mountedAt path: String) -> String? {
            mounts.first { $0.1 == path }.flatMap { (volumes[$0.0]?["hostPath"] as? [String: Any])?["path"] as? String }
        }
        // The socket where the plugin looks by default, on the host.
        let socket = try #require(arg("-socketpath"))
        #expect(socket == "/run/cni/dhcp.sock" && hostPath(mountedAt: "/run/cni") == "/run/cni")
        // Every CNI_NETNS form a runtime sends resolves under the host prefix to the host's own.
        let prefix = try #require(arg("-hostprefix"))
        #expect(hostPath(mountedAt: prefix + "/var/run/netns") == "/run/netns" && hostPath(mountedAt: prefix + "/run/netns") == "/run/netns")
        #expect(hostPath(mountedAt: prefix + "/proc") == "/proc" && pod["hostPID"] as? Bool == true)
        // Leases outlive the daemon's pod.
        #expect(hostPath(mountedAt: try #require(arg("-statedir"))) == "/var/lib/cni/dhcp")
        let containerfile = try String(contentsOfFile: Self.dir + "/../../Integration/Packaging/Containerfile", encoding: .utf8)
        #expect(containerfile.contains("COPY bin/ /usr/libexec/swift-cni/"))
    }

    @Test func theDaemonSetMountsWhatTheInstallerWrites() throws {
        let ds = try #require(try documents("20-daemonset.yaml").first)
        let pod = try #require(((ds["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let mounts = Dictionary(uniqueKeysWithValues: ((container["volumeMounts"] as? [[String: Any]]) ?? []).map {
            ($0["name"] as! String, $0["mountPath"] as! String)
        })
        let defaults = Installer.Options()
        #expect(Set(mounts.values) == [defaults.cniBinDir, defaults.cniConfDir, defaults.serviceAccountDir])
        let volumes = Dictionary(uniqueKeysWithValues: ((pod["volumes"] as? [[String: Any]]) ?? []).map { ($0["name"] as! String, $0) })
        #expect(Set(volumes.keys) == Set(mounts.keys))
        // Host paths: the bin dir, and the conf dir the host-side paths of the kubeconfigs live in.
        func hostPath(mountedAt path: String) -> String? {
            mounts.first { $0.value == path }.flatMap { (volumes[$0.key]?["hostPath"] as? [String: Any])?["path"] as? String }
        }
        #expect(hostPath(mountedAt: defaults.cniBinDir) == "/opt/cni/bin")
        let hostConf = try #require(hostPath(mountedAt: defaults.cniConfDir))
        #expect(defaults.multusKubeconfigFileHost.hasPrefix(hostConf + "/") && defaults.whereaboutsKubeconfigFileHost.hasPrefix(hostConf + "/"))
        // The token: a projected volume of the installer's name, with the token, CA and namespace files
        // the installer reads, and POD_UID for the host path of kubelet's copy.
        let tokenVolume = try #require(mounts.first { $0.value == defaults.serviceAccountDir }?.key)
        #expect(tokenVolume == defaults.tokenVolume)
        let sources = ((volumes[tokenVolume]?["projected"] as? [String: Any])?["sources"] as? [[String: Any]]) ?? []
        #expect((sources.first?["serviceAccountToken"] as? [String: Any])?["path"] as? String == "token")
        #expect(String(describing: sources).contains("ca.crt") && String(describing: sources).contains("namespace"))
        let env = (container["env"] as? [[String: Any]]) ?? []
        #expect(env.contains { $0["name"] as? String == "POD_UID" && String(describing: $0["valueFrom"] ?? "").contains("metadata.uid") })
        #expect((pod["tolerations"] as? [[String: Any]])?.first?["operator"] as? String == "Exists")
    }

    @Test func theRoleGrantsWhatTheClientsCallAndNoLease() throws {
        let role = try #require(try documents("10-rbac.yaml").first { $0["kind"] as? String == "ClusterRole" })
        let rules = (role["rules"] as? [[String: Any]]) ?? []
        let resources = rules.flatMap { ($0["resources"] as? [String]) ?? [] }
        #expect(Set(resources) == ["pods", "pods/status", "network-attachment-definitions", "events", "ippools", "overlappingrangeipreservations"])
        #expect(!String(describing: rules).contains("leases") && !String(describing: rules).contains("\"*\""))
    }
}
