import CNI
import Foundation
import LinuxSystem
import Testing
import TestSupport

/// containerd 1.6 (Debian's) next to the podman tests (issue #18, item 6): `ctr run --cni` as a
/// user runs it, with a containerd of the test's own (private root, state and socket), busybox as
/// the root filesystem, and ctr in a "host" namespace of the test's own whose mount namespace
/// shows our plugins as /opt/cni/bin and the test's config as /etc/cni/net.d (ctr reads only
/// those). ctr ADDs with CNI_NETNS=/proc/<pid>/ns/net and DELs with an empty CNI_NETNS when the
/// container exits. Two containers per network ping each other; afterwards nothing is left.
@Suite(.enabled(if: Root.required && FileManager.default.isExecutableFile(atPath: "/usr/bin/containerd")
                  && FileManager.default.isExecutableFile(atPath: "/bin/busybox"), "needs root, containerd and busybox-static"),
       .serialized)
struct ContainerdTests {
    /// containerd with everything under one temporary directory, and a busybox root filesystem.
    final class Containerd: @unchecked Sendable {
        let dir: TemporaryDirectory
        let host: NetNS
        let daemon: BackgroundProcess
        var socket: String { dir.file("containerd.sock") }
        /// A containerd namespace of this fixture's own (runc's and the shims' state is kept per namespace).
        let namespace = "swcni-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        var rootfs: String { dir.file("rootfs") }
        var conf: String { dir.file("net.d") }
        var ipam: String { dir.file("ipam") }

        init() throws {
            dir = try TemporaryDirectory("swcni-ctrd")
            host = try NetNS("ctrd")
            for d in ["root", "state", "net.d", "ipam", "rootfs/bin", "rootfs/proc", "rootfs/sys", "rootfs/dev", "rootfs/etc", "rootfs/tmp"] {
                try FileManager.default.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true)
            }
            // A hard link, not a copy: a file just written can still be open for writing in a child
            // another test is forking meanwhile, and exec'ing it fails with ETXTBSY.
            if link("/bin/busybox", dir.file("rootfs/bin/busybox")) != 0 {
                try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: dir.file("rootfs/bin/busybox"))
                usleep(200_000)
            }
            try Command.must(["chroot", dir.file("rootfs"), "/bin/busybox", "--install", "-s", "/bin"])
            try dir.write("config.toml", """
                version = 2
                root = "\(dir.file("root"))"
                state = "\(dir.file("state"))"
                disabled_plugins = ["io.containerd.grpc.v1.cri"]
                [grpc]
                  address = "\(dir.file("containerd.sock"))"
                [ttrpc]
                  address = "\(dir.file("containerd-ttrpc.sock"))"
                """)
            // The mount namespace ctr runs in: /opt as it is (the Swift runtime of debug builds
            // lives there) plus /opt/cni/bin = our plugins; /etc/cni/net.d = the test's config.
            // The machine's own /opt/cni is left out, not bound: PackagingTests installs and purges
            // the .deb there meanwhile, and an rmdir of a directory detaches every mount on it in
            // every mount namespace (Linux ≥ 3.18) — ctr's plugins vanished mid-ADD on CI once.
            try dir.write("mounts.sh", """
                set -e
                keep=\(dir.file("opt-keep"))
                mkdir -p "$keep"
                for d in /opt/*; do [ -d "$d" ] && [ "${d##*/}" != cni ] || continue; mkdir -p "$keep/${d##*/}"; mount --bind "$d" "$keep/${d##*/}"; done
                mount -t tmpfs tmpfs /opt
                for d in "$keep"/*; do [ -d "$d" ] || continue; mkdir -p "/opt/${d##*/}"; mount --bind "$d" "/opt/${d##*/}"; done
                mkdir -p /opt/cni/bin
                mount --bind "\(BuildProducts.directory)" /opt/cni/bin
                mount --bind "\(dir.file("net.d"))" /etc/cni/net.d
                exec "$@"
                """)
            daemon = try BackgroundProcess("/usr/bin/containerd", arguments: ["--config", dir.file("config.toml")],
                                           stderrPath: dir.file("containerd.log"))
            let sock = dir.file("containerd.sock")
            guard waitUntil(10, { FileManager.default.fileExists(atPath: sock) }) else {
                throw CommandFailed(argv: ["containerd"], status: 1, output: (try? dir.read("containerd.log")) ?? "")
            }
        }

        deinit {
            // Containers a failed test left: their tasks first (containerd's shims are its own).
            // Their shims outlive containerd: each task deleted first, so its shim ends.
            if let tasks = try? Command.run(["ctr", "-a", socket, "-n", namespace, "tasks", "ls", "-q"]) {
                for id in tasks.stdout.split(separator: "\n").map(String.init) {
                    _ = try? Command.run(["ctr", "-a", socket, "-n", namespace, "tasks", "delete", "--force", id])
                    _ = try? Command.run(["ctr", "-a", socket, "-n", namespace, "containers", "delete", id])
                }
            }
            daemon.stop()
            host.delete()
            dir.remove()
            // What ctr and the shims keep under /run/containerd for the namespace, once empty.
            for d in ["/run/containerd/runc/" + namespace, "/run/containerd/fifo", "/run/containerd/s", "/run/containerd/runc", "/run/containerd"] {
                _ = rmdir(d)
            }
        }

        /// The network config ctr will load (the only one in its /etc/cni/net.d).
        func network(_ conflist: String) throws {
            for f in try FileManager.default.contentsOfDirectory(atPath: conf) { try FileManager.default.removeItem(atPath: conf + "/" + f) }
            try dir.write("net.d/10-test.conflist", conflist)
        }

        /// `ctr run --rm --cni` in the host namespace, as a user runs it; returns when the container exits.
        func ctrArgv(_ id: String, _ script: String) -> [String] {
            // Bounded: a container that never ends must not hang the suite (deinit kills its task).
            ["timeout", "-k", "5", "90", "nsenter", "--net=\(host.path)", "unshare", "-m", "bash", dir.file("mounts.sh"),
             "ctr", "-a", socket, "-n", namespace, "run", "--rm", "--cni", "--runc-root", dir.file("runc"), "--fifo-dir", dir.file("fifo"), "--rootfs", rootfs,
             id, "/bin/sh", "-c", script]
        }

        func run(_ id: String, _ script: String) throws -> Command {
            try Command.run(ctrArgv(id, script), env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        }

        /// Ends a container's task (its `ctr run --rm` then DELs its network and removes it).
        func kill(_ id: String) {
            _ = try? Command.run(["ctr", "-a", socket, "-n", namespace, "tasks", "kill", "-s", "KILL", id])
        }

        /// A container that lives `seconds` (a peer to ping), started in the background.
        func peer(_ id: String, seconds: Int) throws -> BackgroundProcess {
            let argv = ctrArgv(id, "sleep \(seconds)")
            return try BackgroundProcess("/usr/bin/" + argv[0], arguments: Array(argv.dropFirst()),
                                         environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], stderrPath: dir.file("\(id).log"))
        }

        /// Reservations left in a host-local network of the test's ipam directory.
        func reservations(_ network: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: ipam + "/" + network)) ?? [])
                .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".") }
        }

        /// The host namespace's links, but for those the test made.
        func hostLinks(except keep: [String]) throws -> [String] {
            (try host.ipJSON("link", "show").arrayValue ?? []).compactMap { $0["ifname"]?.stringValue }
                .filter { $0 != "lo" && !keep.contains($0) }
        }

        func masqueradeRules() throws -> String {
            let out = try host.exec(["nft", "list", "chain", "inet", "cni_plugins_masquerade", "masq_checks"],
                                    env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]).withStdin("")
            return out.stdout.split(separator: "\n").filter { $0.contains("saddr") }.joined(separator: "\n")
        }
    }

    /// Runs the peer, waits until it has an address, runs the second container with `script`
    /// (which pings the peer at `peerIP`), then ends the peer and waits for its ctr to finish.
    func pair(_ c: Containerd, network: String, peerIP: String, script: String) throws -> Command {
        let id = "peer-\(network)"
        let peer = try c.peer(id, seconds: 60)
        defer {
            c.kill(id)
            if !waitUntil(15, { !peer.isRunning }) { peer.stop() }
        }
        try #require(waitUntil(10) { !c.reservations(network).isEmpty },
                     "the peer got no address: \((try? c.dir.read("\(id).log")) ?? "")")
        return try c.run("probe-\(network)", script.replacingOccurrences(of: "PEER", with: peerIP))
    }

    @Test func bridgeWithGoPortmapAndTuning() throws {
        let c = try Containerd()
        try c.network(#"""
            {"cniVersion":"1.0.0","name":"ctrbr","plugins":[
              {"type":"bridge","bridge":"ctrbr0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.90.0.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"\#(c.ipam)"}},
              {"type":"portmap","capabilities":{"portMappings":true}},
              {"type":"tuning","sysctl":{"net.ipv4.conf.eth0.rp_filter":"0"}}]}
            """#)
        let out = try pair(c, network: "ctrbr", peerIP: "10.90.0.2",
                           script: "ip -4 -o addr show eth0; cat /proc/sys/net/ipv4/conf/eth0/rp_filter; timeout 5 ping -c1 PEER && timeout 5 ping -c1 10.90.0.1")
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        #expect(out.stdout.contains("inet 10.90.0.3/24") && out.stdout.contains("\n0\n"), "\(out.stdout)")
        #expect(waitUntil(5) { c.reservations("ctrbr").isEmpty })
        #expect(try c.hostLinks(except: ["ctrbr0"]).isEmpty)
        let rules = try c.masqueradeRules()
        #expect(rules.isEmpty, "\(rules)")
    }

    @Test func macvlanAndRouteOverrideChained() throws {
        let c = try Containerd()
        try c.host.ip("link", "add", "ctrmv0", "type", "veth", "peer", "name", "ctrmv0p")
        try c.host.ip("link", "set", "ctrmv0", "up")
        try c.host.ip("link", "set", "ctrmv0p", "up")   // a carrier: macvlans in bridge mode need one
        try c.network(#"""
            {"cniVersion":"1.0.0","name":"ctrmv","plugins":[
              {"type":"macvlan","master":"ctrmv0","mode":"bridge","ipam":{"type":"host-local","subnet":"10.91.0.0/24","routes":[{"dst":"192.168.70.0/24","gw":"10.91.0.254"}],"dataDir":"\#(c.ipam)"}},
              {"type":"route-override","delroutes":[{"dst":"192.168.70.0/24"}],"addroutes":[{"dst":"172.25.0.0/16","gw":"10.91.0.253"}]}]}
            """#)
        let out = try pair(c, network: "ctrmv", peerIP: "10.91.0.2", script: "ip route; timeout 5 ping -c1 PEER")
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        #expect(out.stdout.contains("172.25.0.0/16 via 10.91.0.253") && !out.stdout.contains("192.168.70.0"), "\(out.stdout)")
        #expect(waitUntil(5) { c.reservations("ctrmv").isEmpty })
        #expect(try c.hostLinks(except: ["ctrmv0", "ctrmv0p"]).isEmpty)
    }

    /// host-device under containerd: ADD moves the device in; DEL comes with an empty CNI_NETNS
    /// after the container's namespace is gone — a physical device is back in the root namespace
    /// by then, a veth (all a test can use) went with the namespace. DEL still succeeds and drops
    /// the saved state.
    @Test func hostDeviceUnderContainerd() throws {
        let c = try Containerd()
        try c.host.ip("link", "add", "ctrhd0", "type", "veth", "peer", "name", "ctrhd0p")
        try c.host.ip("addr", "add", "10.92.0.1/24", "dev", "ctrhd0p")
        try c.host.ip("link", "set", "ctrhd0p", "up")
        try c.network(#"""
            {"cniVersion":"1.0.0","name":"ctrhd","plugins":[
              {"type":"host-device","device":"ctrhd0","dataDir":"\#(c.dir.file("hd-state"))","ipam":{"type":"static","addresses":[{"address":"10.92.0.2/24"}]}}]}
            """#)
        let out = try c.run("hd", "ip -4 -o addr show; timeout 5 ping -c1 10.92.0.1")
        #expect(out.status == 0 && out.stdout.contains("inet 10.92.0.2/24"), "\(out.stdout)\(out.stderr)")
        // The kernel cleans a namespace up a moment after its last process: the pair goes then.
        #expect(waitUntil(5) { (try? c.host.link("ctrhd0p")) == nil && (try? c.host.link("ctrhd0")) == nil })
        #expect(((try? FileManager.default.subpathsOfDirectory(atPath: c.dir.file("hd-state"))) ?? []).filter { $0.contains("/") }.isEmpty)
    }

    /// multus with two static delegates (bridge as eth0, macvlan as net1), as on a host without
    /// Kubernetes: the containers reach each other over both.
    @Test func multusWithTwoStaticDelegates() throws {
        let c = try Containerd()
        try c.host.ip("link", "add", "ctrmu0", "type", "veth", "peer", "name", "ctrmu0p")
        try c.host.ip("link", "set", "ctrmu0", "up")
        try c.host.ip("link", "set", "ctrmu0p", "up")
        try c.network(#"""
            {"cniVersion":"1.0.0","name":"ctrmu","plugins":[{"type":"multus","cniDir":"\#(c.dir.file("multus"))","binDir":"/opt/cni/bin","delegates":[
              {"cniVersion":"1.0.0","name":"mu-br","type":"bridge","bridge":"ctrmubr0","isGateway":true,"ipam":{"type":"host-local","subnet":"10.93.0.0/24","dataDir":"\#(c.ipam)"}},
              {"cniVersion":"1.0.0","name":"mu-mv","type":"macvlan","master":"ctrmu0","mode":"bridge","ipam":{"type":"host-local","subnet":"10.94.0.0/24","dataDir":"\#(c.ipam)"}}]}]}
            """#)
        let out = try pair(c, network: "mu-br", peerIP: "10.93.0.2",
                           script: "ip -4 -o addr show; timeout 5 ping -c1 PEER && timeout 5 ping -c1 10.94.0.2")
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        #expect(out.stdout.contains("eth0") && out.stdout.contains("inet 10.93.0.3/24") && out.stdout.contains("net1")
                && out.stdout.contains("inet 10.94.0.3/24"), "\(out.stdout)")
        #expect(waitUntil(5) { c.reservations("mu-br").isEmpty && c.reservations("mu-mv").isEmpty })
        #expect(try c.hostLinks(except: ["ctrmu0", "ctrmu0p", "ctrmubr0"]).isEmpty)
        let cached = ((try? FileManager.default.subpathsOfDirectory(atPath: c.dir.file("multus"))) ?? []).filter { !$0.hasSuffix("results") }
        #expect(cached.isEmpty, "\(cached)")
    }
}
