import CNI
import Glibc
import LinuxSystem
import NetNS

/// bridge + host-local with `ipMasq` and `macspoofchk` in a container's cycle as containerd runs
/// it (issue #19): ADD into the pod's namespace, the container exits and its namespace goes, then
/// DEL with an empty CNI_NETNS — ours beside the reference, each on a bridge of its own in one
/// host namespace, alternating. Afterwards the masquerading and spoof-check rules each side left
/// behind are counted (outside the timing): a DEL that skips its teardown is faster and leaks.
struct BridgeMasqBenchmark {
    let ours: String
    let reference: String
    let runs: Int

    struct Result { var add: [Samples]; var del: [Samples]; var left: [Int] }

    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }

    func run() throws -> Result {
        let tag = String(getpid())
        let dir = "/tmp/cni-bench-masq-\(tag)", hostName = "cni-bench-mqh-\(tag)"
        try FileSystem.makeDirectories(dir)
        try ip("netns", "add", hostName)
        defer {
            try? ip("netns", "del", hostName)
            _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv)
        }
        let host = try NetworkNamespace(path: "/var/run/netns/\(hostName)")
        let sides = [("ours", ours, "mqbro", "10.242.0.0/16", "mqo"), ("reference", reference, "mqbrg", "10.243.0.0/16", "mqg")]
        var add = [Samples(), Samples()], del = [Samples(), Samples()]
        for n in 0..<runs {
            for (i, side) in sides.enumerated() {
                let pod = "cni-bench-mqp-\(tag)-\(i)"
                try ip("netns", "add", pod)
                let conf = #"{"cniVersion":"1.0.0","name":"benchmq-\#(side.0)","type":"bridge","bridge":"\#(side.2)","isGateway":true,"ipMasq":true,"macspoofchk":true,"ipam":{"type":"host-local","subnet":"\#(side.3)","dataDir":"\#(dir)/\#(side.0)"}}"#
                var env = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "\(side.4)\(n)", "CNI_NETNS": "/var/run/netns/" + pod, "CNI_IFNAME": "eth0",
                           "CNI_PATH": side.1]
                add[i].add(require(try host.run { try invoke(side.1 + "/bridge", env, conf) }, "\(side.0) bridge ADD (ipMasq)").wall * 1000)
                try ip("netns", "del", pod)   // the container exited: its veth end goes with the namespace
                env["CNI_COMMAND"] = "DEL"
                env["CNI_NETNS"] = ""
                del[i].add(require(try host.run { try invoke(side.1 + "/bridge", env, conf) }, "\(side.0) bridge DEL (ipMasq)").wall * 1000)
            }
        }
        let listing = try host.run { try Subprocess.run("/usr/sbin/nft", arguments: ["list", "ruleset"], environment: baseEnv) }
        let lines = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n")
        // A rule of an attachment names its network (nftables layout: "net: <name>"; iptables
        // layout: name: "<name>") or, for the spoof check, its container ("macspoofchk-<id>").
        let left = sides.map { side in
            lines.filter { $0.contains("benchmq-\(side.0)") || $0.contains("macspoofchk-\(side.4)") }.count
        }
        return Result(add: add, del: del, left: left)
    }
}
