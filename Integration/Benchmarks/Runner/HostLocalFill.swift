import CNI
import Glibc
import LinuxSystem

/// host-local ADD on a /20 nearly empty and filled to 99.5 % (20 random holes), ours beside the
/// reference, each side on a directory of its own filled the same way (files as the reference
/// writes them: ours finds no owner markers at first, adds them on its first operation — that
/// run is not counted). Each ADD is followed by a DEL of the same container (not timed), so the
/// fill stays. Target (issue #19): ours at 99.5 % ≤ 2× ours nearly empty.
struct HostLocalFillBenchmark {
    let ours: String
    let reference: String
    let runs: Int

    struct Line { var name: String; var ours: Samples; var reference: Samples }

    func run() throws -> [Line] {
        let dir = "/tmp/cni-bench-fill-\(getpid())"
        defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }
        var hosts: [String] = []
        for third in 0..<16 {
            for fourth in 0..<256 where !(third == 0 && fourth < 2) && !(third == 15 && fourth == 255) {
                hosts.append("10.61.\(third).\(fourth)")
            }
        }
        var holes = Set<String>()
        while holes.count < 20 { holes.insert(hosts.randomElement()!) }
        var lines: [Line] = []
        for full in [false, true] {
            let sides = [("ours", ours), ("reference", reference)]
            for side in sides {
                let net = "\(dir)/\(full ? "full" : "empty")-\(side.0)"
                try FileSystem.makeDirectories(net + "/fill")
                if full {
                    for h in hosts where !holes.contains(h) { try FileSystem.writeNew(net + "/fill/" + h, Array("filler-\(h)\r\neth0".utf8)) }
                }
            }
            var add = [Samples(), Samples()]
            for n in -1..<runs {
                for (i, side) in sides.enumerated() {
                    let conf = #"{"cniVersion":"1.0.0","name":"fill","type":"macvlan","ipam":{"type":"host-local","subnet":"10.61.0.0/20","dataDir":"\#(dir)/\#(full ? "full" : "empty")-\#(side.0)"}}"#
                    var e = ["CNI_CONTAINERID": "f\(n + 1)", "CNI_NETNS": "/var/run/netns/bench", "CNI_IFNAME": "eth0", "CNI_PATH": side.1,
                             "CNI_COMMAND": "ADD"]
                    let a = require(try invoke(side.1 + "/host-local", e, conf), "\(side.0) host-local ADD (fill)")
                    e["CNI_COMMAND"] = "DEL"
                    _ = require(try invoke(side.1 + "/host-local", e, conf), "\(side.0) host-local DEL (fill)")
                    if n >= 0 { add[i].add(a.wall * 1000) }
                }
            }
            lines.append(Line(name: "host-local ADD, /20 \(full ? "at 99.5 % (20 holes)" : "nearly empty")", ours: add[0], reference: add[1]))
        }
        return lines
    }
}
