import CNI
import Foundation
import LinuxSystem
import Testing
import TestSupport

/// The test helper that runs processes (CNI's verb enum has the same name).
typealias Command = TestSupport.Command

/// Root-only tests run as root; on CI they run regardless, so a CI without root fails loudly
/// instead of skipping silently.
enum Root {
    static let isRoot = getuid() == 0
    static let required = isRoot || ProcessInfo.processInfo.environment["CI"] == "true"
}

/// Polls `condition` every 50 ms until it holds or `timeout` seconds pass; its last answer.
func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}


/// A unique short suffix for namespace and link names of one test.
func uniqueSuffix() -> String { String(UInt32.random(in: 0...UInt32.max), radix: 36) }

/// A network namespace made for one test (`ip netns add`), deleted when the fixture goes away,
/// whatever the test's outcome.
final class NetNS: @unchecked Sendable {
    let name: String
    var path: String { "/var/run/netns/\(name)" }
    private var deleted = false

    init(_ label: String) throws {
        name = "swcni-\(label)-\(uniqueSuffix())"
        try Command.must(["ip", "netns", "add", name])
        try Command.must(["ip", "-n", name, "link", "set", "lo", "up"])
    }

    /// Runs `ip` inside the namespace.
    @discardableResult
    func ip(_ args: String...) throws -> Command { try Command.must(["ip", "-n", name] + args) }

    /// `ip -j …` parsed.
    func ipJSON(_ args: String...) throws -> JSONValue {
        let out = try Command.must(["ip", "-n", name, "-j"] + args)
        return try JSONValue.parse(out.stdout.isEmpty ? "[]" : out.stdout)
    }

    /// The link's `ip -j -d link show` object, or nil when it does not exist.
    func link(_ ifname: String) throws -> JSONValue? {
        let c = try Command.run(["ip", "-n", name, "-j", "-d", "link", "show", "dev", ifname])
        guard c.status == 0 else { return nil }
        return try JSONValue.parse(c.stdout).arrayValue?.first
    }

    /// "addr/len" of every global address on the link.
    func addresses(_ ifname: String) throws -> [String] {
        let info = try ipJSON("addr", "show", "dev", ifname)
        return (info.arrayValue?.first?["addr_info"]?.arrayValue ?? []).compactMap { a in
            guard a["scope"] == "global", let l = a["local"]?.stringValue, let p = a["prefixlen"]?.intValue else { return nil }
            return "\(l)/\(p)"
        }
    }

    /// Runs a command with this namespace as its network namespace.
    func run(_ argv: [String], env: [String: String]) throws -> Command {
        try Command.run(["nsenter", "--net=\(path)", "--"] + argv, env: env)
    }

    func delete() {
        guard !deleted else { return }
        deleted = true
        _ = try? Command.run(["ip", "netns", "del", name])
    }

    deinit { delete() }
}

/// The usual scene: a "host" namespace with a veth pair whose end `parent` is the master for
/// macvlan, and an empty "pod" namespace. Nothing touches the machine's own interfaces.
final class HostAndPod: @unchecked Sendable {
    let host: NetNS
    let pod: NetNS
    let parent = "vparent0"
    let dir: TemporaryDirectory

    init() throws {
        host = try NetNS("host")
        pod = try NetNS("pod")
        dir = try TemporaryDirectory("swcni-it")
        try host.ip("link", "add", parent, "type", "veth", "peer", "name", "vpeer0")
        try host.ip("link", "set", parent, "up")
        try host.ip("link", "set", "vpeer0", "up")
        try FileManager.default.createDirectory(atPath: dir.file("net.d"), withIntermediateDirectories: true)
    }

    deinit {
        pod.delete()
        host.delete()
        dir.remove()
    }

    var cacheDir: String { dir.file("cache") }
    var dataDir: String { dir.file("ipam") }

    /// Environment for a cnitool run from the host namespace.
    func toolEnv(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETCONFPATH": dir.file("net.d"), "CNI_PATH": "/usr/lib/cni",
                   "CNI_CACHE_DIR": cacheDir]
        env.merge(extra) { $1 }
        return env
    }

    /// Runs a cnitool (ours or the Go one) in the host namespace.
    func tool(_ binary: String, _ args: String..., env: [String: String] = [:]) throws -> Command {
        try host.run([binary] + args, env: toolEnv(env))
    }

    func writeConflist(_ name: String, _ json: String) throws {
        try dir.write("net.d/\(name).conflist", json)
    }

    /// cnitool's container ID for the pod namespace.
    var containerID: String {
        let out = try? Command.run(["/bin/sh", "-c", "printf %s '\(pod.path)' | sha512sum | cut -c1-20"])
        return "cnitool-" + (out?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
    }
}

/// Upstream-style cnitool over Debian's libcni, built once per test run (GOPATH mode, offline;
/// `go build` itself skips the work when nothing changed).
enum GoCNITool {
    static let path: Result<String, CommandFailed> = {
        // Next to our own build products (.build/, ignored by git), reused across runs.
        let out = BuildProducts.path("gocnitool")
        let src = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("GoCNITool/main.go").path
        do {
            try Command.must(["go", "build", "-o", out, src],
                             env: ["PATH": "/usr/bin:/bin", "GOPATH": "/usr/share/gocode", "GO111MODULE": "off",
                                   "HOME": "/tmp", "GOCACHE": BuildProducts.path("go-build-cache")])
            return .success(out)
        } catch let e as CommandFailed {
            return .failure(e)
        } catch {
            return .failure(CommandFailed(argv: ["go", "build"], status: -1, output: "\(error)"))
        }
    }()
}

extension HostAndPod {
    /// Runs a plugin binary from the host namespace exactly as a runtime execs it.
    /// `prefix`: arguments before the plugin's own (a wrapper such as strace as `binary`).
    func plugin(_ binary: String, _ command: String, _ conf: String, ifName: String = "eth0",
                containerID: String = "ctr1", netns: String? = nil, args: String = "",
                cniPath: String = BuildProducts.directory, extraEnv: [String: String] = [:], prefix: [String] = []) throws -> Command {
        try host.exec([binary] + prefix, env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command,
                                     "CNI_CONTAINERID": containerID, "CNI_NETNS": netns ?? pod.path,
                                     "CNI_IFNAME": ifName, "CNI_ARGS": args, "CNI_PATH": cniPath].merging(extraEnv) { $1 })
            .withStdin(conf)
    }
}

extension NetNS {
    func exec(_ argv: [String], env: [String: String]) -> PendingCommand { PendingCommand(argv: ["nsenter", "--net=\(path)", "--"] + argv, env: env) }
}

struct PendingCommand {
    let argv: [String]
    let env: [String: String]
    func withStdin(_ stdin: String) throws -> Command {
        let c = try Command.run(argv, env: env, stdin: stdin)
        OurErrors.check(argv, c)
        return c
    }
}

/// Every error our plugins print in these suites carries a spec or project code: a 999 (an error
/// no layer knew the code of) fails the test that saw it. Go's plugins may say 999; ours may not.
enum OurErrors {
    static func check(_ argv: [String], _ c: Command) {
        guard let binary = argv.first(where: { $0.hasPrefix(BuildProducts.directory) }), c.status != 0,
              let reply = try? JSONValue.parse(c.stdout), reply["code"]?.intValue == 999 else { return }
        Issue.record("\(binary) answered code 999: \(c.stdout)")
    }
}
