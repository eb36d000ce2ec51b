import CNI
import Foundation
import Testing
import TestSupport

/// The deliverables of `bash Integration/package.sh deb|image` (Integration/test.sh builds both
/// first): the Debian package installed, used by a container and removed; the node image run as
/// the DaemonSet runs it, on a host root of the test's own.
@Suite(.serialized, .enabled(if: Root.required, "needs root (dpkg, podman)"))
struct PackagingTests {
    static let packages = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/packages").path
    static func artifact(_ suffix: String) -> String? {
        ((try? FileManager.default.contentsOfDirectory(atPath: packages)) ?? []).filter { $0.hasSuffix(suffix) }.sorted().last
            .map { packages + "/" + $0 }
    }
    static let onCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"]

    /// Installs into the machine's /opt/cni/bin and /usr/bin: on CI, or when asked (SWCNI_INSTALL_TESTS=1).
    @Test(.enabled(if: onCI || ProcessInfo.processInfo.environment["SWCNI_INSTALL_TESTS"] == "1"))
    func theDebInstallsServesAContainerAndLeavesNothingWhenRemoved() throws {
        let deb = try #require(Self.artifact("_amd64.deb"), "no .deb in \(Self.packages): run bash Integration/package.sh deb")
        let before = try Command.run(["dpkg-query", "-W", "swift-cni"], env: Self.env)
        try #require(before.status != 0, "swift-cni is already installed on this machine")
        let install = try Command.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", deb], env: Self.env)
        try #require(install.status == 0, "\(install.stdout)\(install.stderr)")
        let files = try Command.must(["dpkg-query", "-L", "swift-cni"], env: Self.env).stdout.split(separator: "\n").map(String.init)
            .filter { !FileManager.default.fileExists(atPath: $0) || !isDirectory($0) }
        var removed = false
        defer { if !removed { _ = try? Command.run(["apt-get", "purge", "-y", "-q", "swift-cni"], env: Self.env) } }
        #expect(files.contains("/opt/cni/bin/whereabouts") && files.contains("/usr/bin/cnitool") && files.contains("/opt/cni/bin/dhcp"))
        #expect(files.contains("/opt/cni/bin/swift-cni") && files.contains("/opt/cni/bin/swift-cni-full"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/opt/cni/bin/whereabouts")) == "swift-cni")
        #expect(files.contains("/lib/systemd/system/swift-cni-dhcp.socket") && files.contains("/lib/systemd/system/swift-cni-dhcp.service"))
        #expect(!files.contains { $0.hasPrefix("/usr/lib/cni") }, "clashes with containernetworking-plugins")
        let version = try Command.run(["/usr/bin/cnitool", "--version"], env: Self.env)
        #expect(version.status == 0 && !version.stdout.isEmpty)
        // The installed (static release) executables skip the runtime's search for swift-backtrace
        // (CStartup): the syscalls of a VERSION name no path of it, in either executable.
        let traces = try TemporaryDirectory("swcni-deb-trace")
        defer { traces.remove() }
        let trace = traces.file("strace")
        // swift-cni-full run by its own name answers with its usage (status 2), after the same start-up.
        for (exe, status) in [("/opt/cni/bin/host-local", 0), ("/opt/cni/bin/swift-cni-full", 2)] {
            let st = try Command.run(["strace", "-f", "-o", trace, "-e", "trace=%file", "/usr/bin/env", "-i", "CNI_COMMAND=VERSION", exe],
                                     env: Self.env, stdin: #"{"cniVersion":"1.0.0"}"#)
            let calls = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
            #expect(st.status == status, "\(st.stderr)")
            #expect(calls.contains("execve(\"\(exe)\"") && !calls.contains("swift-backtrace") && !calls.contains("libexec/swift"), "\(calls)")
        }

        // A container on a network of the installed plugins.
        let host = try NetNS("deb")
        let dir = try TemporaryDirectory("swcni-deb")
        defer { dir.remove() }
        let run = try Podman.runContainer(in: host, dir, network: "swcni-deb", conflist: #"""
            {"cniVersion":"1.0.0","name":"swcni-deb","plugins":[{"type":"bridge","bridge":"debbr0","isGateway":true,
              "ipam":{"type":"whereabouts","range":"10.81.0.0/24","dataDir":"\#(dir.file("wb"))"}}]}
            """#, script: "ip -o -4 addr show dev eth0", pluginDir: "/opt/cni/bin")
        #expect(run.status == 0 && run.stdout.contains("inet 10.81.0.1/24"), "\(run.stdout)\(run.stderr)")

        let purge = try Command.run(["apt-get", "purge", "-y", "-q", "swift-cni"], env: Self.env)
        removed = purge.status == 0
        #expect(removed, "\(purge.stdout)\(purge.stderr)")
        #expect(files.filter { FileManager.default.fileExists(atPath: $0) }.isEmpty)
    }

    /// Lintian-clean: no error or warning beyond what Integration/Packaging/lintian-overrides explains.
    @Test(.enabled(if: onCI || (artifact("_amd64.deb") != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/lintian"))))
    func theDebIsLintianClean() throws {
        let deb = try #require(Self.artifact("_amd64.deb"), "no .deb in \(Self.packages): run bash Integration/package.sh deb")
        let out = try Command.run(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb], env: Self.env)
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
    }

    func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    @Test(.enabled(if: onCI || artifact("_image.tar") != nil))
    func theImageInstallsIntoAHostRootWatchesAndCleansUp() throws {
        let image = try #require(Self.artifact("_image.tar"), "no image archive in \(Self.packages): run bash Integration/package.sh image")
        let dir = try TemporaryDirectory("swcni-img")
        defer { dir.remove() }
        for d in ["host/opt/cni/bin", "host/etc/cni/net.d", "sa"] {
            try FileManager.default.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true)
        }
        try dir.write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        try dir.write("sa/namespace", "kube-system\n")
        try dir.write("sa/token", "t\n")
        let master = #"{"cniVersion":"0.4.0","name":"cbr","plugins":[{"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.244.0.0/24"}}]}"#
        try dir.write("host/etc/cni/net.d/10-bridge.conflist", master)
        try dir.write("containers.conf", "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n")
        let podman = ["podman", "--root", dir.file("root"), "--runroot", dir.file("runroot"), "--tmpdir", dir.file("tmp"), "--storage-driver", "vfs"]
        let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF": dir.file("containers.conf"), "HOME": dir.path]
        try Command.must(podman + ["load", "-q", "-i", image], env: env)
        // swift-cni_<version>_image.tar holds localhost/swift-cni:<version>.
        let version = image.split(separator: "/").last!.split(separator: "_")[1]
        let started = try Command.must(podman + ["run", "-d", "--network", "none",
            "-v", dir.file("host/opt/cni/bin") + ":/host/opt/cni/bin", "-v", dir.file("host/etc/cni/net.d") + ":/host/etc/cni/net.d",
            "-v", dir.file("sa") + ":/var/run/secrets/kubernetes.io/serviceaccount:ro",
            "-e", "KUBERNETES_SERVICE_HOST=10.96.0.1", "-e", "KUBERNETES_SERVICE_PORT=443", "-e", "POD_UID=1234-uid",
            "--pull", "never", "localhost/swift-cni:\(version)", "--cleanup-config-on-exit"], env: env)
        let id = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? Command.run(podman + ["rm", "-f", id], env: env) }
        let conf = dir.file("host/etc/cni/net.d/00-multus.conf")
        #expect(waitUntil(10) { FileManager.default.fileExists(atPath: conf) })
        // The binaries are on the "host" and run there.
        for p in ["macvlan", "bridge", "multus", "whereabouts", "dhcp"] {
            let out = try Command.run([dir.file("host/opt/cni/bin/" + p)], env: ["CNI_COMMAND": "VERSION"], stdin: #"{"cniVersion":"1.0.0"}"#)
            #expect(out.status == 0 && out.stdout.contains("supportedVersions"), "\(p): \(out.stdout)\(out.stderr)")
        }
        // The hand-over reaches swift-cni-full on the host: it parses the daemon's flags.
        let help = try Command.run([dir.file("host/opt/cni/bin/dhcp"), "daemon", "--help"], env: [:])
        #expect(help.status == 0 && help.stdout.contains("-socketpath"), "\(help.stdout)\(help.stderr)")
        let wrapped = try JSONValue.parse(try dir.read("host/etc/cni/net.d/00-multus.conf"))
        #expect(wrapped["delegates"] == .array([try JSONValue.parse(master)]))
        #expect(try dir.read("host/etc/cni/net.d/multus.d/multus.kubeconfig")
            .contains("tokenFile: \"/var/lib/kubelet/pods/1234-uid/volumes/kubernetes.io~projected/swift-cni-token/token\""))
        #expect(FileManager.default.fileExists(atPath: dir.file("host/etc/cni/net.d/whereabouts.d/whereabouts.conf")))
        // The master changes: regenerated.
        try dir.write("host/etc/cni/net.d/10-bridge.conflist", master.replacingOccurrences(of: "10.244.0.0/24", with: "10.245.0.0/24"))
        #expect(waitUntil(10) { ((try? dir.read("host/etc/cni/net.d/00-multus.conf")) ?? "").contains("10.245.0.0/24") })
        // Stopped (SIGTERM): 00-multus.conf goes, the plugins stay.
        try Command.must(podman + ["stop", "-t", "10", id], env: env)
        #expect(!FileManager.default.fileExists(atPath: conf))
        #expect(FileManager.default.fileExists(atPath: dir.file("host/opt/cni/bin/multus")))
        let exit = try Command.must(podman + ["inspect", "-f", "{{.State.ExitCode}}", id], env: env)
        #expect(exit.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
