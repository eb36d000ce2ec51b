import CNI
import Glibc
import LinuxSystem
import NetNS

/// Benchmarks swift-cni against the Go reference plugins in /usr/lib/cni, alternating the two run
/// by run so both see the same machine state. Prints a table (ours, reference, ratio of medians)
/// and writes the same as JSON. Never asserts: timings are reported, not tested.
///
/// usage: cni-bench <our bin dir> [--runs N] [--output FILE] [--reference DIR] [--peers DIR] [--only startup|main|whereabouts|multus|dhcp|fill|ports|masq]
///        [--stores file,etcd,kubernetes] (whereabouts' datastores; all by default)
let argv = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = argv.firstIndex(of: name), i + 1 < argv.count else { return nil }
    return argv[i + 1]
}
let runs = option("--runs").flatMap(Int.init) ?? 200
let output = option("--output")
let reference = option("--reference") ?? "/usr/lib/cni"
guard let ours = argv.first, !ours.hasPrefix("--") else {
    FileSystem.writeStderr("usage: cni-bench <our bin dir> [--runs N] [--output FILE] [--reference DIR]\n")
    exit(2)
}

@Sendable func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct Measured { var wall: Double; var cpu: Double; var out: Subprocess.Output }

let baseEnv = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

/// Runs a plugin once, as a runtime execs it.
@Sendable func invoke(_ path: String, _ env: [String: String], _ stdin: String) throws -> Measured {
    let environment = baseEnv + env.map { "\($0.key)=\($0.value)" }
    let t0 = now()
    let out = try Subprocess.run(path, environment: environment, stdin: Array(stdin.utf8), captureStderr: true)
    return Measured(wall: now() - t0, cpu: out.cpuSeconds, out: out)
}

/// Peak RSS (KiB) of one run, measured under GNU time: posix_spawn's vfork makes the kernel count
/// the parent's memory in a child's ru_maxrss, so wait4's figure is useless for a small child.
func peakRSS(_ path: String, _ env: [String: String], _ stdin: String) throws -> Double {
    let file = "/tmp/cni-bench-rss-\(getpid())"
    defer { unlink(file) }
    let environment = baseEnv + env.map { "\($0.key)=\($0.value)" }
    let out = try Subprocess.run("/usr/bin/time", arguments: ["-f", "%M", "-o", file, path], environment: environment,
                                 stdin: Array(stdin.utf8), captureStderr: true)
    guard out.status == 0, let text = try? FileSystem.read(file),
          let kib = Double(String(decoding: text, as: UTF8.self).trimmingWhitespace) else {
        FileSystem.writeStderr("cni-bench: measuring RSS of \(path) failed\n")
        exit(1)
    }
    return kib / 1024
}

/// RSS is deterministic enough that a few runs do.
let rssRuns = min(runs, 20)

func require(_ m: Measured, _ what: String) -> Measured {
    if m.out.status != 0 {
        FileSystem.writeStderr("cni-bench: \(what) failed: \(String(decoding: m.out.stdout + m.out.stderr, as: UTF8.self))\n")
        exit(1)
    }
    return m
}

if option("--only") == "multus" {
    var table = "| multus | ours median (p90) | baseline median (p90) | difference | target |\n|---|---|---|---|---|\n"
    for l in try MultusBenchmark(ours: ours, runs: min(runs, 200), peers: option("--peers") ?? "/var/cache/swift-cni-peers").run() {
        let diff = l.perExtra.map { "\(format($0, 2)) ms per extra network" } ?? "+\(format(l.a.median - l.b.median, 2)) ms"
        table += "| \(l.name) | \(format(l.a.median, 2)) (\(format(l.a.p90, 2))) ms | \(format(l.b.median, 2)) (\(format(l.b.p90, 2))) ms | \(diff) | \(l.target) |\n"
    }
    print(table)
    exit(0)
}
/// A side-by-side table: each line's medians (p90) for ours and the reference, their ratio, and a note.
func sideBySide(_ title: String, _ lines: [(name: String, ours: Samples, reference: Samples)], digits: Int, note: String = "") -> String {
    var table = "| \(title) | ours median (p90) | Go median (p90) | ratio |\(note.isEmpty ? "" : " target |")\n|---|---|---|---|\(note.isEmpty ? "" : "---|")\n"
    for l in lines {
        table += "| \(l.name) | \(format(l.ours.median, digits)) (\(format(l.ours.p90, digits))) ms | \(format(l.reference.median, digits)) "
            + "(\(format(l.reference.p90, digits))) ms | \(format(l.ours.median / l.reference.median, 3)) |\(note.isEmpty ? "" : " \(note) |")\n"
    }
    return table
}

if option("--only") == "dhcp" {
    let lines = try DHCPBenchmark(ours: ours, reference: reference, runs: min(runs, 20)).run()
    print(sideBySide("dhcp", lines.map { ($0.name, $0.ours, $0.reference) }, digits: 1, note: "ours ≤ 100 ms"))
    exit(0)
}
if option("--only") == "fill" {
    let lines = try HostLocalFillBenchmark(ours: ours, reference: reference, runs: min(runs, 60)).run()
    var table = sideBySide("host-local fill", lines.map { ($0.name, $0.ours, $0.reference) }, digits: 2)
    if lines.count == 2 {
        table += "\nat 99.5 % / nearly empty: ours \(format(lines[1].ours.median / lines[0].ours.median, 2))× (target ≤ 2×), "
            + "Go \(format(lines[1].reference.median / lines[0].reference.median, 2))×\n"
    }
    print(table)
    exit(0)
}
if option("--only") == "ports" {
    print(bridgePortsTable(try BridgePortsBenchmark(ours: ours, reference: reference, runs: min(runs, 30)).run()))
    exit(0)
}
/// The bridge-ports lines as a table, with each side's growth (issue #19: ours ≤ 1.1×).
func bridgePortsTable(_ lines: [BridgePortsBenchmark.Line]) -> String {
    var table = sideBySide("bridge ports", lines.map { ($0.name, $0.ours, $0.reference) }, digits: 2)
    if lines.count == 2 {
        let o = lines[1].ours.median / lines[0].ours.median, g = lines[1].reference.median / lines[0].reference.median
        table += "\nwith 200 ports / first ports: ours \(format(o, 2))× (target ≤ 1.1×: \(o <= 1.1 ? "met" : "MISSED")), Go \(format(g, 2))×\n"
    }
    return table
}
if option("--only") == "masq" {
    print(bridgeMasqTable(try BridgeMasqBenchmark(ours: ours, reference: reference, runs: min(runs, 100)).run()))
    exit(0)
}
/// The ipMasq cycle as a table (issue #19: ours ≤ Go's wall time on ADD and DEL while still
/// removing every rule).
func bridgeMasqTable(_ r: BridgeMasqBenchmark.Result) -> String {
    var table = sideBySide("bridge ipMasq + macspoofchk", [("ADD", r.add[0], r.add[1]), ("DEL, CNI_NETNS empty (as containerd)", r.del[0], r.del[1])],
                           digits: 2, note: "ours ≤ 1.0")
    table += "\nrule lines left after every DEL: ours \(r.left[0]), Go \(r.left[1])\n"
    return table
}
if option("--only") == "whereabouts" {
    var table = "| whereabouts | ours | upstream | ours/upstream | target |\n|---|---|---|---|---|\n"
    var benchmark = WhereaboutsBenchmark(ours: ours, peers: option("--peers") ?? "/var/cache/swift-cni-peers")
    if let stores = option("--stores") { benchmark.stores = Set(stores.split(separator: ",").map(String.init)) }
    for l in try benchmark.run() {
        table += "| \(l.name) | \(l.ours) | \(l.upstream) | \(l.ratio) | \(l.target) |\n"
    }
    print(table)
    exit(0)
}

var rows: [Row] = []
let sides = [("ours", ours), ("reference", reference)]
/// Plugins with a Go counterpart in the reference directory, and ours without one.
let withReference = ["host-local", "static", "macvlan", "ipvlan", "host-device", "bridge"]
let oursOnly = ["route-override", "egress-router", "multus", "whereabouts"]
// Every executable measured below starts from disk, ours and Go's alike (startFromDisk).
try startFromDisk(sides.flatMap { side in (withReference + oursOnly).map { side.1 + "/" + $0 } }.filter(FileSystem.exists)) {
    for side in sides { for plugin in withReference + oursOnly where FileSystem.exists(side.1 + "/" + plugin) {
        _ = try invoke(side.1 + "/" + plugin, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#)
    } }
}

// 1. Start-up: VERSION of every plugin we ship that has a reference counterpart.
for plugin in withReference where FileSystem.exists(ours + "/" + plugin) {
    var wall = [Samples(), Samples()], rss = [Samples(), Samples()]
    for _ in 0..<runs {
        for (i, side) in sides.enumerated() {
            let m = require(try invoke(side.1 + "/" + plugin, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#), "\(side.0) \(plugin) VERSION")
            wall[i].add(m.wall * 1000)
        }
    }
    for _ in 0..<rssRuns {
        for (i, side) in sides.enumerated() {
            rss[i].add(try peakRSS(side.1 + "/" + plugin, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#))
        }
    }
    rows.append(Row(benchmark: "start-up (VERSION) \(plugin)", metric: "wall", unit: "ms", ours: wall[0], reference: wall[1], target: 0.6))
    rows.append(Row(benchmark: "start-up (VERSION) \(plugin)", metric: "peak RSS", unit: "MiB", ours: rss[0], reference: rss[1], target: 1.0))
}

if option("--only") == "startup" {
    var table = "| benchmark | metric | ours median (p90) | Go median (p90) | ratio |\n|---|---|---|---|---|\n"
    for r in rows {
        table += "| \(r.benchmark) | \(r.metric) | \(format(r.ours.median, 2)) (\(format(r.ours.p90, 2))) \(r.unit) "
            + "| \(format(r.reference.median, 2)) (\(format(r.reference.p90, 2))) \(r.unit) | \(format(r.ratio, 2)) |\n"
    }
    // Ours without a Go counterpart in /usr/lib/cni: the same measurements, ours alone.
    table += "\n| start-up (VERSION), ours only | wall median (p90) | peak RSS median |\n|---|---|---|\n"
    for plugin in oursOnly where FileSystem.exists(ours + "/" + plugin) {
        var wall = Samples(), rss = Samples()
        for _ in 0..<runs { wall.add(require(try invoke(ours + "/" + plugin, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#), plugin).wall * 1000) }
        for _ in 0..<rssRuns { rss.add(try peakRSS(ours + "/" + plugin, ["CNI_COMMAND": "VERSION"], #"{"cniVersion":"1.0.0"}"#)) }
        table += "| \(plugin) | \(format(wall.median, 2)) (\(format(wall.p90, 2))) ms | \(format(rss.median, 2)) MiB |\n"
    }
    print(table)
    exit(0)
}

// 2. host-local ADD + DEL on a temporary data directory.
do {
    let dir = "/tmp/cni-bench-\(getpid())"
    try FileSystem.makeDirectories(dir)
    defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }
    var wall = [Samples(), Samples()], cpu = [Samples(), Samples()], rss = [Samples(), Samples()]
    for n in 0..<runs {
        for (i, side) in sides.enumerated() {
            let conf = #"{"cniVersion":"1.0.0","name":"bench-\#(side.0)","type":"macvlan","ipam":{"type":"host-local","subnet":"10.200.0.0/16","dataDir":"\#(dir)","routes":[{"dst":"0.0.0.0/0"}]}}"#
            let env = ["CNI_CONTAINERID": "bench\(n)", "CNI_NETNS": "/var/run/netns/bench", "CNI_IFNAME": "eth0", "CNI_PATH": side.1]
            var e = env; e["CNI_COMMAND"] = "ADD"
            let add = require(try invoke(side.1 + "/host-local", e, conf), "\(side.0) host-local ADD")
            e["CNI_COMMAND"] = "DEL"
            let del = require(try invoke(side.1 + "/host-local", e, conf), "\(side.0) host-local DEL")
            wall[i].add((add.wall + del.wall) * 1000)
            cpu[i].add((add.cpu + del.cpu) * 1000)
        }
    }
    for n in 0..<rssRuns {
        for (i, side) in sides.enumerated() {
            let conf = #"{"cniVersion":"1.0.0","name":"rss-\#(side.0)","type":"macvlan","ipam":{"type":"host-local","subnet":"10.202.0.0/16","dataDir":"\#(dir)"}}"#
            var e = ["CNI_CONTAINERID": "rss\(n)", "CNI_NETNS": "/var/run/netns/bench", "CNI_IFNAME": "eth0", "CNI_PATH": side.1,
                     "CNI_COMMAND": "ADD"]
            rss[i].add(try peakRSS(side.1 + "/host-local", e, conf))
            e["CNI_COMMAND"] = "DEL"
            _ = require(try invoke(side.1 + "/host-local", e, conf), "\(side.0) host-local DEL")
        }
    }
    rows.append(Row(benchmark: "host-local ADD+DEL", metric: "wall", unit: "ms", ours: wall[0], reference: wall[1], target: 0.5))
    rows.append(Row(benchmark: "host-local ADD+DEL", metric: "CPU", unit: "ms", ours: cpu[0], reference: cpu[1], target: nil))
    rows.append(Row(benchmark: "host-local ADD+DEL", metric: "peak RSS", unit: "MiB", ours: rss[0], reference: rss[1], target: 1.0))
}

// 3. macvlan + host-local ADD and DEL into a pod namespace, master a veth in a host namespace.
do {
    let tag = String(getpid())
    let hostName = "cni-bench-host-\(tag)", podName = "cni-bench-pod-\(tag)"
    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }
    try ip("netns", "add", hostName)
    try ip("netns", "add", podName)
    defer { try? ip("netns", "del", podName); try? ip("netns", "del", hostName) }
    try ip("-n", hostName, "link", "add", "bench0", "type", "veth", "peer", "name", "bench0p")
    try ip("-n", hostName, "link", "set", "bench0", "up")
    try ip("-n", hostName, "link", "set", "bench0p", "up")
    let dir = "/tmp/cni-bench-mv-\(tag)"
    try FileSystem.makeDirectories(dir)
    defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }
    let host = try NetworkNamespace(path: "/var/run/netns/\(hostName)")
    var addWall = [Samples(), Samples()], addCPU = [Samples(), Samples()]
    var delWall = [Samples(), Samples()], delCPU = [Samples(), Samples()], rss = [Samples(), Samples()]
    try host.run {
        for n in 0..<runs {
            for (i, side) in sides.enumerated() {
                let conf = #"{"cniVersion":"1.0.0","name":"benchmv-\#(side.0)","type":"macvlan","master":"bench0","mode":"bridge","ipam":{"type":"host-local","subnet":"10.201.0.0/16","dataDir":"\#(dir)","routes":[{"dst":"0.0.0.0/0"}]}}"#
                var e = ["CNI_CONTAINERID": "mv\(n)", "CNI_NETNS": "/var/run/netns/\(podName)", "CNI_IFNAME": "eth0",
                         "CNI_PATH": side.1, "CNI_COMMAND": "ADD"]
                let add = require(try invoke(side.1 + "/macvlan", e, conf), "\(side.0) macvlan ADD")
                e["CNI_COMMAND"] = "DEL"
                let del = require(try invoke(side.1 + "/macvlan", e, conf), "\(side.0) macvlan DEL")
                addWall[i].add(add.wall * 1000); addCPU[i].add(add.cpu * 1000)
                delWall[i].add(del.wall * 1000); delCPU[i].add(del.cpu * 1000)
            }
        }
        for n in 0..<rssRuns {
            for (i, side) in sides.enumerated() {
                let conf = #"{"cniVersion":"1.0.0","name":"rssmv-\#(side.0)","type":"macvlan","master":"bench0","mode":"bridge","ipam":{"type":"host-local","subnet":"10.203.0.0/16","dataDir":"\#(dir)"}}"#
                var e = ["CNI_CONTAINERID": "rss\(n)", "CNI_NETNS": "/var/run/netns/\(podName)", "CNI_IFNAME": "eth0",
                         "CNI_PATH": side.1, "CNI_COMMAND": "ADD"]
                rss[i].add(try peakRSS(side.1 + "/macvlan", e, conf))
                e["CNI_COMMAND"] = "DEL"
                _ = require(try invoke(side.1 + "/macvlan", e, conf), "\(side.0) macvlan DEL")
            }
        }
    }
    rows.append(Row(benchmark: "macvlan+host-local ADD", metric: "wall", unit: "ms", ours: addWall[0], reference: addWall[1], target: 0.5))
    rows.append(Row(benchmark: "macvlan+host-local ADD", metric: "CPU", unit: "ms", ours: addCPU[0], reference: addCPU[1], target: nil))
    rows.append(Row(benchmark: "macvlan+host-local DEL", metric: "wall", unit: "ms", ours: delWall[0], reference: delWall[1], target: nil))
    rows.append(Row(benchmark: "macvlan+host-local DEL", metric: "CPU", unit: "ms", ours: delCPU[0], reference: delCPU[1], target: 0.5))
    rows.append(Row(benchmark: "macvlan ADD (without its IPAM child)", metric: "peak RSS", unit: "MiB", ours: rss[0], reference: rss[1], target: 1.0))

    // bridge + host-local (the plugin podman's default network runs): a veth pair to a bridge
    // with the gateway on it, each side on a bridge of its own. No target: for comparison.
    var brAddWall = [Samples(), Samples()], brAddCPU = [Samples(), Samples()]
    var brDelWall = [Samples(), Samples()], brDelCPU = [Samples(), Samples()]
    try host.run {
        for n in 0..<runs {
            for (i, side) in sides.enumerated() {
                let conf = #"{"cniVersion":"1.0.0","name":"benchbr-\#(side.0)","type":"bridge","bridge":"bbr-\#(i)","isGateway":true,"ipam":{"type":"host-local","subnet":"10.20\#(4 + i).0.0/16","dataDir":"\#(dir)"}}"#
                var e = ["CNI_CONTAINERID": "br\(n)", "CNI_NETNS": "/var/run/netns/\(podName)", "CNI_IFNAME": "eth0",
                         "CNI_PATH": side.1, "CNI_COMMAND": "ADD"]
                let add = require(try invoke(side.1 + "/bridge", e, conf), "\(side.0) bridge ADD")
                e["CNI_COMMAND"] = "DEL"
                let del = require(try invoke(side.1 + "/bridge", e, conf), "\(side.0) bridge DEL")
                brAddWall[i].add(add.wall * 1000); brAddCPU[i].add(add.cpu * 1000)
                brDelWall[i].add(del.wall * 1000); brDelCPU[i].add(del.cpu * 1000)
            }
        }
    }
    rows.append(Row(benchmark: "bridge+host-local ADD", metric: "wall", unit: "ms", ours: brAddWall[0], reference: brAddWall[1], target: nil))
    rows.append(Row(benchmark: "bridge+host-local ADD", metric: "CPU", unit: "ms", ours: brAddCPU[0], reference: brAddCPU[1], target: nil))
    rows.append(Row(benchmark: "bridge+host-local DEL", metric: "wall", unit: "ms", ours: brDelWall[0], reference: brDelWall[1], target: nil))
    rows.append(Row(benchmark: "bridge+host-local DEL", metric: "CPU", unit: "ms", ours: brDelCPU[0], reference: brDelCPU[1], target: nil))
}

// 4. multus against its delegates alone (ours against ours: Debian has no multus).
let mainOnly = option("--only") == "main"   // the per-pod table alone (no multus, no whereabouts)
let multusLines = !mainOnly && FileSystem.exists(ours + "/multus")
    ? try MultusBenchmark(ours: ours, runs: min(runs, 200), peers: option("--peers") ?? "/var/cache/swift-cni-peers").run() : []

// 5. whereabouts on each datastore, upstream beside it when built (../shared/tools/build-peers.sh).
let whereaboutsLines = !mainOnly && FileSystem.exists(ours + "/whereabouts")
    ? try WhereaboutsBenchmark(ours: ours, peers: option("--peers") ?? "/var/cache/swift-cni-peers").run() : []

// 5b. bridge ADD with 200 ports on the bridge against the first ports.
let portsLines = !mainOnly ? try BridgePortsBenchmark(ours: ours, reference: reference, runs: min(runs, 30)).run() : []
// 5c. bridge with ipMasq and macspoofchk, a containerd cycle.
let masqResult = !mainOnly ? try BridgeMasqBenchmark(ours: ours, reference: reference, runs: min(runs, 100)).run() : nil

// 6. Install size: our executables (every plugin is a name of one of them) against Debian's Go
// plugins, per plugin × the number of plugins we install (issue #19's measure).
var sizes: [JSONValue] = []
func fileSize(_ path: String) -> Double {
    var st = stat()
    return stat(path, &st) == 0 ? Double(st.st_size) / 1_048_576 : 0
}
let executables = ["swift-cni", "swift-cni-full"].filter { FileSystem.exists(ours + "/" + $0) }
let names = (try? Subprocess.run(ours + "/swift-cni", arguments: ["--list"], environment: []))
    .map { String(decoding: $0.stdout, as: UTF8.self).split(separator: "\n").count } ?? 0
let goPlugins = ["bridge", "dhcp", "host-device", "host-local", "ipvlan", "macvlan", "static"].map { fileSize(reference + "/" + $0) }.filter { $0 > 0 }
let goPerPlugin = goPlugins.isEmpty ? 0 : goPlugins.reduce(0, +) / Double(goPlugins.count)
let oursTotal = executables.map { fileSize(ours + "/" + $0) }.reduce(0, +)
sizes.append(["what": .string(executables.map { "\($0) \(format(fileSize(ours + "/" + $0), 1)) MiB" }.joined(separator: " + ")),
              "plugins": .int(names), "ours_MiB": .number(format(oursTotal, 1)),
              "reference_MiB": .number(format(goPerPlugin * Double(names), 1)), "ratio": .number(format(oursTotal / (goPerPlugin * Double(max(names, 1))), 2)),
              "target_met": .bool(names > 0 && oursTotal <= goPerPlugin * Double(names))])

// Report.
var table = "| benchmark | metric | ours median (p90) | Go median (p90) | ratio | target |\n|---|---|---|---|---|---|\n"
for r in rows {
    let t = r.target.map { "≤ \(format($0, 1)) \(r.ratio <= $0 ? "met" : "MISSED")" } ?? ""
    table += "| \(r.benchmark) | \(r.metric) | \(format(r.ours.median, 2)) (\(format(r.ours.p90, 2))) \(r.unit) "
        + "| \(format(r.reference.median, 2)) (\(format(r.reference.p90, 2))) \(r.unit) | \(format(r.ratio, 2)) | \(t) |\n"
}
table += "\n| install (every plugin) | ours | Go (its mean per plugin × our plugins) | ratio | target |\n|---|---|---|---|---|\n"
for s in sizes {
    table += "| \(s["plugins"]!.serializedString()) plugins: \(s["what"]!.stringValue!) | \(s["ours_MiB"]!.serializedString()) MiB | "
        + "\(s["reference_MiB"]!.serializedString()) MiB | \(s["ratio"]!.serializedString()) | "
        + "≤ 1.0 \(s["target_met"]!.boolValue == true ? "met" : "MISSED") |\n"
}
if !multusLines.isEmpty {
    table += "\n| multus | ours median (p90) | baseline median (p90) | difference | target |\n|---|---|---|---|---|\n"
    for l in multusLines {
        let diff = l.perExtra.map { "\(format($0, 2)) ms per extra network" } ?? "+\(format(l.a.median - l.b.median, 2)) ms"
        table += "| \(l.name) | \(format(l.a.median, 2)) (\(format(l.a.p90, 2))) ms | \(format(l.b.median, 2)) (\(format(l.b.p90, 2))) ms | \(diff) | \(l.target) |\n"
    }
}
if !portsLines.isEmpty { table += "\n" + bridgePortsTable(portsLines) }
if let masqResult { table += "\n" + bridgeMasqTable(masqResult) }
if !whereaboutsLines.isEmpty {
    table += "\n| whereabouts | ours | upstream | ours/upstream | target |\n|---|---|---|---|---|\n"
    for l in whereaboutsLines { table += "| \(l.name) | \(l.ours) | \(l.upstream) | \(l.ratio) | \(l.target) |\n" }
}
print("cni-bench: \(runs) runs of each, alternating ours and the reference (\(reference))\n")
print(table)
let report: JSONValue = ["runs": .int(runs), "reference": .string(reference), "rows": .array(rows.map(\.json)), "binaries": .array(sizes)]
if let output {
    try FileSystem.writeAtomically(output, report.prettyPrinted() + [0x0A], mode: 0o644)
    print("JSON written to \(output)")
}
