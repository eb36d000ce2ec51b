import CNI
import Foundation
import Testing
import TestSupport

/// The plugins are names of one executable (`swift-cni`, Applets), linked as an install links
/// them; what needs the cluster clients or a daemon's command line is handed over to
/// `swift-cni-full` beside it (PluginKit's Handoff), and without it fails with a clear error.
@Suite struct MultiCallTests {
    static let env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]

    /// A bin directory with swift-cni and its links, and swift-cni-full only when asked.
    func binDirectory(_ dir: TemporaryDirectory, full: Bool) throws -> String {
        let bin = dir.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // A hard link (the same file, elsewhere): a copy just written may still be open for writing
        // in a child another test forks meanwhile, and exec'ing it would fail with ETXTBSY.
        if link(BuildProducts.path("swift-cni"), bin + "/swift-cni") != 0 {
            try FileManager.default.copyItem(atPath: BuildProducts.path("swift-cni"), toPath: bin + "/swift-cni")
            usleep(200_000)
        }
        if full { try FileManager.default.createSymbolicLink(atPath: bin + "/swift-cni-full", withDestinationPath: BuildProducts.path("swift-cni-full")) }
        #expect(BuildProducts.linkPlugins(in: bin))
        return bin
    }

    func plugin(_ bin: String, _ name: String, _ command: String, _ conf: String, id: String = "mc1") throws -> TestSupport.Command {
        try Command.run([bin + "/" + name],
                        env: Self.env.merging(["CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": "/var/run/netns/swcni-none",
                                               "CNI_IFNAME": "net1", "CNI_PATH": bin,
                                               "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"]) { $1 },
                        stdin: conf)
    }

    /// The processes a run starts, as strace sees its execs (the first is the plugin itself).
    func execs(_ bin: String, _ name: String, _ command: String, _ conf: String, trace: String) throws -> [String] {
        _ = try Command.run(["/usr/bin/strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", trace, bin + "/" + name],
                            env: Self.env.merging(["CNI_COMMAND": command, "CNI_CONTAINERID": "mc1", "CNI_NETNS": "/var/run/netns/swcni-none",
                                                   "CNI_IFNAME": "net1", "CNI_PATH": bin]) { $1 },
                            stdin: conf)
        return ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n")
            .filter { $0.contains("execve(") && !$0.contains("ENOENT") }
            .compactMap { line in line.split(separator: "\"").dropFirst().first.map { URL(fileURLWithPath: String($0)).lastPathComponent } }
    }

    /// A main plugin runs its IPAM in its own process when the IPAM plugin found in CNI_PATH is
    /// this executable (InProcessInvoker), and execs it when it is anything else.
    @Test(.enabled(if: Root.required && FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")))
    func ourIPAMRunsInTheMainPluginsProcess() throws {
        let dir = try TemporaryDirectory("swcni-mc-inproc")
        defer { dir.remove() }
        let bin = try binDirectory(dir, full: false)
        let conf = #"{"cniVersion":"1.0.0","name":"mc","type":"macvlan","master":"nonexistent0","ipam":{"type":"host-local","subnet":"10.67.0.0/24","dataDir":"\#(dir.file("ipam"))"}}"#
        // DEL releases through IPAM even with the namespace and master gone.
        #expect(try execs(bin, "macvlan", "DEL", conf, trace: dir.file("t1")) == ["macvlan"])
        try FileManager.default.removeItem(atPath: bin + "/host-local")
        try FileManager.default.createSymbolicLink(atPath: bin + "/host-local", withDestinationPath: "/usr/lib/cni/host-local")
        #expect(try execs(bin, "macvlan", "DEL", conf, trace: dir.file("t2")) == ["macvlan", "host-local"])
    }

    @Test func everyNameRunsAndAnUnknownNameIsRefused() throws {
        let dir = try TemporaryDirectory("swcni-multicall")
        defer { dir.remove() }
        let bin = try binDirectory(dir, full: false)
        let names = try Command.must([bin + "/swift-cni", "--list"], env: Self.env).stdout.split(separator: "\n")
        #expect(names.count == 12)
        for name in names {
            let out = try plugin(bin, String(name), "VERSION", #"{"cniVersion":"1.0.0"}"#)
            #expect(out.status == 0 && out.json?["supportedVersions"] != nil, "\(name): \(out.stdout)")
        }
        try FileManager.default.createSymbolicLink(atPath: bin + "/portmap", withDestinationPath: "swift-cni")
        let unknown = try Command.run([bin + "/portmap"], env: Self.env)
        #expect(unknown.status == 2 && unknown.stderr.contains("Called as \"portmap\""))
    }

    /// multus with static delegates and whereabouts on its file store never need swift-cni-full;
    /// a kubeconfig, an etcd datastore or `dhcp daemon` without it is a coded error that changed nothing.
    @Test func withoutTheFullExecutable() throws {
        let dir = try TemporaryDirectory("swcni-multicall")
        defer { dir.remove() }
        let bin = try binDirectory(dir, full: false)
        let multus = #"{"cniVersion":"1.0.0","name":"m","type":"multus","cniDir":"\#(dir.file("multus"))","binDir":"\#(bin)","delegates":[{"cniVersion":"1.0.0","name":"d","type":"host-local","ipam":{"type":"host-local","subnet":"10.68.0.0/24","dataDir":"\#(dir.file("hl"))"}}]}"#
        let add = try plugin(bin, "multus", "ADD", multus)
        #expect(add.status == 0 && add.json?["ips"]?.arrayValue?.first?["address"]?.stringValue == "10.68.0.2/24", "\(add.stdout)")
        #expect(try plugin(bin, "multus", "DEL", multus).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("hl/d")).filter { !$0.hasPrefix(".") && $0 != "lock" && !$0.hasPrefix("last_reserved_ip") }.isEmpty)
        let wb = #"{"cniVersion":"1.0.0","name":"w","type":"whereabouts","ipam":{"type":"whereabouts","range":"10.69.0.0/24","dataDir":"\#(dir.file("wb"))"}}"#
        let wbAdd = try plugin(bin, "whereabouts", "ADD", wb)
        #expect(wbAdd.status == 0 && wbAdd.json?["ips"]?.arrayValue?.first?["address"]?.stringValue == "10.69.0.1/24", "\(wbAdd.stdout)")

        let withKubeconfig = multus.replacingOccurrences(of: #""type":"multus","#, with: #""type":"multus","kubeconfig":"\#(dir.file("kc"))","#)
        let onEtcd = #"{"cniVersion":"1.0.0","name":"e","type":"whereabouts","ipam":{"type":"whereabouts","range":"10.70.0.0/24","datastore":"etcd","etcd_host":"127.0.0.1:1","dataDir":"\#(dir.file("wb2"))"}}"#
        for (name, conf) in [("multus", withKubeconfig), ("whereabouts", onEtcd)] {
            let out = try plugin(bin, name, "ADD", conf, id: "mc2")
            #expect(out.status != 0 && out.json?["code"]?.intValue == 101 && out.json?["msg"]?.stringValue?.contains("swift-cni-full") == true, "\(name): \(out.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("multus/mc2")) && !FileManager.default.fileExists(atPath: dir.file("wb2")))
        let daemon = try Command.run([bin + "/dhcp", "daemon", "-socketpath", dir.file("d.sock")], env: Self.env)
        #expect(daemon.status == 1 && daemon.stderr.contains("swift-cni-full"))
    }

    /// Handed over, the full executable gets the same arguments, environment and stdin: the
    /// kubeconfig named in the config on stdin is the one it fails to read (code 7), and
    /// `whereabouts reconcile` and `dhcp daemon` parse their own flags there.
    @Test func handedOverWithTheSameInput() throws {
        let dir = try TemporaryDirectory("swcni-multicall")
        defer { dir.remove() }
        let bin = try binDirectory(dir, full: true)
        let conf = #"{"cniVersion":"1.0.0","name":"m","type":"multus","kubeconfig":"\#(dir.file("no-such-kubeconfig"))","cniDir":"\#(dir.file("multus"))","delegates":[{"cniVersion":"1.0.0","name":"d","type":"host-local","ipam":{"type":"host-local","subnet":"10.68.0.0/24","dataDir":"\#(dir.file("hl"))"}}]}"#
        let out = try plugin(bin, "multus", "ADD", conf)
        #expect(out.status != 0 && out.json?["code"]?.intValue == 7 && out.stdout.contains("no-such-kubeconfig"), "\(out.stdout)")
        let reconcile = try Command.run([bin + "/whereabouts", "reconcile", "--no-such-flag"], env: Self.env)
        #expect(reconcile.status == 1 && reconcile.stderr.hasPrefix("whereabouts reconcile:") && reconcile.stderr.contains("no-such-flag"),
                "\(reconcile.stderr)")
        let help = try Command.run([bin + "/dhcp", "daemon", "--help"], env: Self.env)
        #expect(help.status == 0 && help.stdout.contains("-socketpath"), "\(help.stdout + help.stderr)")
        // A flag Go's flag package would not take: its message and the usage on stderr, status 2.
        let bad = try Command.run([bin + "/dhcp", "daemon", "-socketpath", dir.file("d.sock"), "-nosuch"], env: Self.env)
        #expect(bad.status == 2 && bad.stdout.isEmpty && bad.stderr.hasPrefix("flag provided but not defined: -nosuch\nUsage of dhcp daemon:\n"),
                "\(bad.status) \(bad.stdout) \(bad.stderr)")
    }
}
