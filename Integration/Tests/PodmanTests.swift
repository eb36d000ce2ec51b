import CNI
import Foundation
import Testing
import TestSupport

/// A real runtime: podman (CNI backend) runs a busybox container on a network of our bridge and
/// host-local, from a namespace of the test's own (podman execs the plugins where it runs, so the
/// bridge and the masquerade rules land there, never on the machine's own network).
@Suite(.enabled(if: Root.required, "needs root (podman, network namespaces)"))
struct PodmanTests {
    @Test func aContainerOnOurBridgeGetsItsAddressAndGivesItBack() throws {
        let host = try NetNS("podman")
        let dir = try TemporaryDirectory("swcni-podman")
        defer { dir.remove() }
        // A root filesystem of busybox alone, a private podman configuration and storage.
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.file("rootfs/bin"), withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir.file("net.d"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: "/bin/busybox", toPath: dir.file("rootfs/bin/busybox"))
        for applet in ["sh", "ip", "ping"] {
            try fm.createSymbolicLink(atPath: dir.file("rootfs/bin/" + applet), withDestinationPath: "busybox")
        }
        try dir.write("containers.conf", """
            [containers]
            default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["\(BuildProducts.directory)"]
            network_config_dir = "\(dir.file("net.d"))"
            [engine]
            runtime = "runc"
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            """)
        try dir.write("net.d/swcni-pm.conflist", #"""
            {"cniVersion":"1.0.0","name":"swcni-pm","plugins":[{"type":"bridge","bridge":"pmbr0","isGateway":true,"ipMasq":true,
              "ipam":{"type":"host-local","ranges":[[{"subnet":"10.79.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"\#(dir.file("ipam"))"}}]}
            """#)
        let podman = ["podman", "--root", dir.file("root"), "--runroot", dir.file("runroot"), "--tmpdir", dir.file("tmp"),
                      "--storage-driver", "vfs"]
        let run = try host.run(podman + ["run", "--rm", "--network", "swcni-pm", "--rootfs", dir.file("rootfs"),
                                         "/bin/sh", "-c", "ip -o -4 addr show dev eth0; ip route; ping -c 1 -W 2 10.79.0.1 >/dev/null && echo PING-OK"],
                               env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF": dir.file("containers.conf"), "HOME": dir.path])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        // Inside the container: the address from host-local, the default route via the gateway,
        // and the gateway on our bridge answers.
        #expect(run.stdout.contains("inet 10.79.0.2/24"), "\(run.stdout)")
        #expect(run.stdout.contains("default via 10.79.0.1 dev eth0"), "\(run.stdout)")
        #expect(run.stdout.contains("PING-OK"), "\(run.stdout)\(run.stderr)")
        #expect(try host.addresses("pmbr0") == ["10.79.0.1/24"])
        // After the container: podman's DEL gave everything back.
        let left = ((try? fm.contentsOfDirectory(atPath: dir.file("ipam/swcni-pm"))) ?? []).filter { $0.hasPrefix("10.") }
        #expect(left.isEmpty)
        #expect(try host.ipJSON("link", "show", "master", "pmbr0").arrayValue?.isEmpty == true)
        #expect(try rules(host, chain: "masq_checks").isEmpty)
    }
}
