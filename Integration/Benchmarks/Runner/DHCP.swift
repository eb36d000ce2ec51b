import CNI
import Glibc
import LinuxSystem
import NetNS

/// macvlan + dhcp ADD against one dnsmasq, ours (our macvlan, our `dhcp daemon`) and the Go
/// reference (its macvlan, its `dhcp daemon`), alternating run by run; each ADD followed by a DEL
/// (not timed). The server answers without its ICMP ping check (`--no-ping`: otherwise dnsmasq
/// itself waits ~3 s before offering a new address, whoever asks); a second, shorter table runs
/// with the check on. Target: ours ≤ 0.1 s median.
struct DHCPBenchmark {
    let ours: String
    let reference: String
    let runs: Int
    let tag = String(getpid())

    struct Line { var name: String; var ours: Samples; var reference: Samples }

    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }

    func run() throws -> [Line] {
        var lines: [Line] = []
        for ping in [false, true] {
            lines.append(try scene(ping: ping, runs: ping ? max(3, runs / 4) : runs))
        }
        return lines
    }

    func scene(ping: Bool, runs: Int) throws -> Line {
        try withHostAndPod("d", parent: "dbench0") { hostName, podName in try scene(ping: ping, runs: runs, hostName: hostName, podName: podName) }
    }

    func scene(ping: Bool, runs: Int, hostName: String, podName: String) throws -> Line {
        try ip("-n", hostName, "link", "set", "dbench0p", "up")
        try ip("-n", hostName, "addr", "add", "10.79.0.1/16", "dev", "dbench0p")
        let dir = "/tmp/cni-bench-dhcp-\(tag)"
        try FileSystem.makeDirectories(dir)
        defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }

        var serverArgs = ["--net=/var/run/netns/\(hostName)", "--", "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                          "--user=root", "--port=0", "--bind-interfaces", "--interface=dbench0p",
                          "--dhcp-range=10.79.1.0,10.79.254.254,2m", "--dhcp-leasefile=\(dir)/leases", "--pid-file=\(dir)/dnsmasq.pid"]
        if !ping { serverArgs.append("--no-ping") }
        let server = try BackgroundProcess("/usr/bin/nsenter", arguments: serverArgs, stderrPath: "\(dir)/dnsmasq.log")
        defer { server.stop() }
        let oursDaemon = try BackgroundProcess(ours + "/dhcp", arguments: ["daemon", "-socketpath", "\(dir)/ours.sock", "-statedir", "\(dir)/state"],
                                               stderrPath: "\(dir)/ours.log")
        defer { oursDaemon.stop() }
        let goDaemon = try BackgroundProcess(reference + "/dhcp", arguments: ["daemon", "-socketpath", "\(dir)/go.sock"],
                                             stderrPath: "\(dir)/go.log")
        defer { goDaemon.stop() }
        for _ in 0..<200 where !(FileSystem.exists("\(dir)/ours.sock") && FileSystem.exists("\(dir)/go.sock")) { usleep(10_000) }
        usleep(300_000)  // dnsmasq binds its socket

        let host = try NetworkNamespace(path: "/var/run/netns/\(hostName)")
        let pod = "/var/run/netns/\(podName)"
        var add = [Samples(), Samples()]
        let sides = [("ours", ours, "\(dir)/ours.sock"), ("reference", reference, "\(dir)/go.sock")]
        for n in 0..<runs {
            for (i, side) in sides.enumerated() {
                let conf = #"{"cniVersion":"1.0.0","name":"dbench","type":"macvlan","master":"dbench0","ipam":{"type":"dhcp","daemonSocketPath":"\#(side.2)"}}"#
                var env = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "\(side.0)\(n)", "CNI_NETNS": pod, "CNI_IFNAME": "net1",
                           "CNI_PATH": side.1, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=bench\(n)"]
                let a = require(try host.run { try invoke(side.1 + "/macvlan", env, conf) }, "\(side.0) macvlan+dhcp ADD")
                env["CNI_COMMAND"] = "DEL"
                _ = require(try host.run { try invoke(side.1 + "/macvlan", env, conf) }, "\(side.0) macvlan+dhcp DEL")
                add[i].add(a.wall * 1000)
            }
        }
        return Line(name: "macvlan + dhcp ADD wall, dnsmasq \(ping ? "with its ping check" : "--no-ping") (\(runs) runs)",
                    ours: add[0], reference: add[1])
    }
}
