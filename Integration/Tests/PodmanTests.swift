import CNI
import Foundation
import Testing
import TestSupport

/// A real runtime: podman (CNI backend) runs a busybox container on a network of our plugins,
/// from a namespace of the test's own (podman execs the plugins where it runs, so the bridge and
/// the masquerade rules land there, never on the machine's own network).
@Suite(.serialized, .enabled(if: Root.required, "needs root (podman, network namespaces)"))
struct PodmanTests {
    func runContainer(in host: NetNS, _ dir: TemporaryDirectory, network name: String, conflist: String,
                      script: String) throws -> Command {
        try Podman.runContainer(in: host, dir, network: name, conflist: conflist, script: script)
    }

    func reservations(_ dir: TemporaryDirectory, _ network: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("ipam/\(network)"))) ?? []).filter { $0.hasPrefix("10.") }
    }

    @Test func aContainerOnOurBridgeGetsItsAddressAndGivesItBack() throws {
        let host = try NetNS("podman")
        let dir = try TemporaryDirectory("swcni-podman")
        defer { dir.remove() }
        let run = try runContainer(in: host, dir, network: "swcni-pm", conflist: #"""
            {"cniVersion":"1.0.0","name":"swcni-pm","plugins":[{"type":"bridge","bridge":"pmbr0","isGateway":true,"ipMasq":true,
              "ipam":{"type":"host-local","ranges":[[{"subnet":"10.79.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"\#(dir.file("ipam"))"}}]}
            """#, script: "ip -o -4 addr show dev eth0; ip route; ping -c 1 -W 2 10.79.0.1 >/dev/null && echo PING-OK")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        // Inside the container: the address from host-local, the default route via the gateway,
        // and the gateway on our bridge answers.
        #expect(run.stdout.contains("inet 10.79.0.2/24"), "\(run.stdout)")
        #expect(run.stdout.contains("default via 10.79.0.1 dev eth0"), "\(run.stdout)")
        #expect(run.stdout.contains("PING-OK"), "\(run.stdout)\(run.stderr)")
        #expect(try host.addresses("pmbr0") == ["10.79.0.1/24"])
        // After the container: podman's DEL gave everything back.
        #expect(reservations(dir, "swcni-pm").isEmpty)
        #expect(try host.ipJSON("link", "show", "master", "pmbr0").arrayValue?.isEmpty == true)
        #expect(try rules(host, chain: "masq_checks").isEmpty)
    }

    /// multus with static delegates under podman (no Kubernetes): the container gets eth0 from
    /// the bridge and net1 from a macvlan, and both are given back when it exits.
    @Test func multusWithStaticDelegatesUnderPodman() throws {
        let host = try NetNS("podman-multus")
        try host.ip("link", "add", "pmv0", "type", "veth", "peer", "name", "pmv0p")
        try host.ip("link", "set", "pmv0", "up")
        let dir = try TemporaryDirectory("swcni-podman-multus")
        defer { dir.remove() }
        let ipam = dir.file("ipam")
        let run = try runContainer(in: host, dir, network: "swcni-pmm", conflist: #"""
            {"cniVersion":"1.0.0","name":"swcni-pmm","plugins":[{"type":"multus","cniDir":"\#(dir.file("multus"))",
              "binDir":"\#(BuildProducts.directory)","delegates":[
                {"cniVersion":"1.0.0","name":"cluster","type":"bridge","bridge":"pmmbr0","isGateway":true,
                 "ipam":{"type":"host-local","subnet":"10.78.0.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"\#(ipam)"}},
                {"cniVersion":"1.0.0","name":"storage","type":"macvlan","master":"pmv0",
                 "ipam":{"type":"host-local","subnet":"10.77.0.0/24","dataDir":"\#(ipam)"}}]}]}
            """#, script: "ip -o -4 addr show; ping -c 1 -W 2 10.78.0.1 >/dev/null && echo PING-OK")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("eth0    inet 10.78.0.2/24") || run.stdout.contains("eth0 inet 10.78.0.2/24")
                || run.stdout.range(of: #"eth0\s+inet 10\.78\.0\.2/24"#, options: .regularExpression) != nil, "\(run.stdout)")
        #expect(run.stdout.range(of: #"net1\s+inet 10\.77\.0\.2/24"#, options: .regularExpression) != nil, "\(run.stdout)")
        #expect(run.stdout.contains("PING-OK"), "\(run.stdout)\(run.stderr)")
        #expect(reservations(dir, "cluster").isEmpty && reservations(dir, "storage").isEmpty)
        #expect(try host.ipJSON("link", "show", "master", "pmmbr0").arrayValue?.isEmpty == true)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.file("multus"))) ?? []).filter { $0 != "results" }.isEmpty)
    }
}

/// podman as the tests run it: private configuration and storage under the test's directory.
enum Podman {
    /// A busybox root filesystem, a private podman configuration and storage, and one network
    /// (`conflist`, named `name`); runs `script` in a container on it (removed afterwards).
    static func runContainer(in host: NetNS, _ dir: TemporaryDirectory, network name: String, conflist: String,
                             script: String, pluginDir: String = BuildProducts.directory) throws -> Command {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.file("rootfs/bin"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.file("net.d"), withIntermediateDirectories: true)
        // Copied by a process of its own: a file this process held open for writing could be
        // inherited by a child another test forks meanwhile, and runc's exec would fail (ETXTBSY).
        try Command.must(["cp", "/bin/busybox", dir.file("rootfs/bin/busybox")])
        for applet in ["sh", "ip", "ping"] {
            try fm.createSymbolicLink(atPath: dir.file("rootfs/bin/" + applet), withDestinationPath: "busybox")
        }
        try dir.write("containers.conf", """
            [containers]
            default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["\(pluginDir)"]
            network_config_dir = "\(dir.file("net.d"))"
            [engine]
            runtime = "runc"
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            """)
        try dir.write("net.d/\(name).conflist", conflist)
        let podman = ["podman", "--root", dir.file("root"), "--runroot", dir.file("runroot"), "--tmpdir", dir.file("tmp"),
                      "--storage-driver", "vfs"]
        return try host.run(podman + ["run", "--rm", "--network", name, "--rootfs", dir.file("rootfs"), "/bin/sh", "-c", script],
                            env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF": dir.file("containers.conf"), "HOME": dir.path])
    }

}
