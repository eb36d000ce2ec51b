import CNI
import Glibc
import LinuxSystem
import NetNS

/// bridge ADD with 200 ports already on the bridge against the first ports (issue #19: ours
/// ≤ 1.1× there), ours beside the reference, each on a bridge of its own in one host namespace.
/// Every ADD puts a pod of its own on the bridge and stays (its namespace holds the other end):
/// `runs` timed ADDs on a nearly empty bridge, untimed ones up to 200 ports, `runs` timed again.
struct BridgePortsBenchmark {
    let ours: String
    let reference: String
    let runs: Int
    let ports = 200

    struct Line { var name: String; var ours: Samples; var reference: Samples }

    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }

    func run() throws -> [Line] {
        let tag = String(getpid())
        let dir = "/tmp/cni-bench-ports-\(tag)", hostName = "cni-bench-bph-\(tag)"
        try FileSystem.makeDirectories(dir)
        try ip("netns", "add", hostName)
        var pods: [String] = []
        defer {
            for p in pods { try? ip("netns", "del", p) }
            try? ip("netns", "del", hostName)
            _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv)
        }
        let host = try NetworkNamespace(path: "/var/run/netns/\(hostName)")
        let sides = [("ours", ours, "bpbro", "10.240.0.0/16"), ("reference", reference, "bpbrg", "10.241.0.0/16")]
        func add(_ n: Int, _ side: (String, String, String, String)) throws -> Double {
            let pod = "cni-bench-bpp-\(tag)-\(side.0)-\(n)"
            try ip("netns", "add", pod)
            pods.append(pod)
            let conf = #"{"cniVersion":"1.0.0","name":"bp-\#(side.0)","type":"bridge","bridge":"\#(side.2)","isGateway":true,"ipam":{"type":"host-local","subnet":"\#(side.3)","dataDir":"\#(dir)/\#(side.0)"}}"#
            let env = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bp\(n)", "CNI_NETNS": "/var/run/netns/" + pod, "CNI_IFNAME": "eth0",
                       "CNI_PATH": side.1]
            return require(try host.run { try invoke(side.1 + "/bridge", env, conf) }, "\(side.0) bridge ADD (ports)").wall * 1000
        }
        var first = [Samples(), Samples()], full = [Samples(), Samples()]
        for n in 0..<runs { for (i, side) in sides.enumerated() { first[i].add(try add(n, side)) } }
        for n in runs..<ports { for side in sides { _ = try add(n, side) } }
        for n in ports..<(ports + runs) { for (i, side) in sides.enumerated() { full[i].add(try add(n, side)) } }
        return [Line(name: "bridge ADD, first ports", ours: first[0], reference: first[1]),
                Line(name: "bridge ADD, \(ports) ports on the bridge", ours: full[0], reference: full[1])]
    }
}
