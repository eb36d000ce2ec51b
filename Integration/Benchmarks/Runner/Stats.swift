import CNI
import Glibc
import LinuxSystem

/// Samples of one measured quantity.
struct Samples {
    var values: [Double] = []
    mutating func add(_ v: Double) { values.append(v) }

    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = p * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down)), hi = Int(rank.rounded(.up))
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - Double(lo))
    }

    var median: Double { percentile(0.5) }
    var p90: Double { percentile(0.9) }
}

/// One row of the report: the same quantity for ours and for the reference.
struct Row {
    var benchmark: String
    var metric: String
    var unit: String
    var ours: Samples
    var reference: Samples
    /// The target ratio (ours / reference, medians), when the issue sets one.
    var target: Double?

    var ratio: Double { ours.median / reference.median }

    var json: JSONValue {
        var o = JSONObject()
        o["benchmark"] = .string(benchmark)
        o["metric"] = .string(metric)
        o["unit"] = .string(unit)
        o["runs"] = .int(ours.values.count)
        o["ours"] = ["median": .number(format(ours.median, 4)), "p90": .number(format(ours.p90, 4))]
        o["reference"] = ["median": .number(format(reference.median, 4)), "p90": .number(format(reference.p90, 4))]
        o["ratio"] = .number(format(ratio, 3))
        if let target { o["target"] = .number(format(target, 2)); o["met"] = .bool(ratio <= target) }
        return .object(o)
    }
}

/// Fixed-point text for a number (no Foundation formatting on the per-pod path's modules).
func format(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = (abs(v) * scale).rounded()
    let whole = Int(n / scale)
    var frac = String(Int(n.truncatingRemainder(dividingBy: scale)))
    while frac.count < digits { frac = "0" + frac }
    return (v < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + frac : "")
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func padLeft(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

/// A "host" namespace with a veth pair (`parent` up, its peer `parent + "p"`) and an empty "pod"
/// namespace, removed when `body` returns: the scene of the plugin benchmarks.
func withHostAndPod<T>(_ label: String, parent: String, _ body: (_ host: String, _ pod: String) throws -> T) throws -> T {
    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }
    let tag = String(getpid())
    let hostName = "cni-bench-\(label)h-\(tag)", podName = "cni-bench-\(label)p-\(tag)"
    try ip("netns", "add", hostName)
    try ip("netns", "add", podName)
    defer { try? ip("netns", "del", podName); try? ip("netns", "del", hostName) }
    try ip("-n", hostName, "link", "set", "lo", "up")
    try ip("-n", hostName, "link", "add", parent, "type", "veth", "peer", "name", parent + "p")
    try ip("-n", hostName, "link", "set", parent, "up")
    return try body(hostName, podName)
}

/// `name` as the node image's installer links it for a cluster (Installer.clusterPlugins): a link
/// to `<ours>/swift-cni-full` in `dir`, so no run pays the per-pod executable's hand-over.
func clusterLink(_ name: String, ours: String, in dir: String) throws -> String {
    try FileSystem.makeDirectories(dir)
    let path = dir + "/" + name
    _ = unlink(path)
    guard let real = realpath(ours + "/swift-cni-full", nil) else { throw SystemError("realpath", subject: ours + "/swift-cni-full") }
    defer { free(real) }
    guard symlink(real, path) == 0 else { throw SystemError("symlink", subject: path) }
    return path
}

/// Puts each file (links followed) in the state a node's executables are in after their first run
/// since boot: written back, dropped from the page cache, then read from disk once by one run of
/// `warm` (the caller's). How a file came into the cache decides how many page faults a start-up
/// takes: a freshly copied or linked file sits in large folios the kernel maps many pages at a time
/// (the same swift-cni: 82 faults per VERSION after `cp`, 95 once read back from disk), so measuring
/// one side fresh and the other from disk compares page caches, not plugins.
func startFromDisk(_ paths: [String], warm: () throws -> Void) rethrows {
    for path in paths {
        guard let real = realpath(path, nil) else { continue }
        defer { free(real) }
        let fd = open(real, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        _ = fsync(fd)   // dirty pages are not dropped
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }
    try warm()
}
