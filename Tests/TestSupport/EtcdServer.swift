import CNI
import Foundation

/// Real etcd (Debian's etcd-server, 3.4) for one test: one member or a cluster of several on
/// loopback ports, a temporary data directory, optionally TLS with client certificates (a CA the
/// test makes). Members are stopped by their PIDs and the files removed when the fixture goes.
public final class EtcdServer: @unchecked Sendable {
    public struct Member {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public var process: Process?
    }

    public let dir: TemporaryDirectory
    public private(set) var members: [Member]
    public let tls: Bool
    /// etcdctl's `--user` once `enableAuthentication` turned authentication on (root's).
    public private(set) var rootUser: String?

    /// etcd tests run where etcd is installed, and always on CI (Integration/setup.sh installs it),
    /// so a CI machine without it fails instead of skipping.
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// Comma-separated `127.0.0.1:<port>`, as whereabouts' `etcd_host` takes them.
    public var endpoints: String { members.map { "127.0.0.1:\($0.clientPort)" }.joined(separator: ",") }
    public var caFile: String { dir.file("ca.pem") }
    public var clientCertFile: String { dir.file("client.pem") }
    public var clientKeyFile: String { dir.file("client.key") }

    public init(members count: Int = 1, tls: Bool = false) throws {
        dir = try TemporaryDirectory("swcni-etcd")
        self.tls = tls
        if tls {
            try TestCA.make(dir)
            try TestCA.issue(dir, name: "server", commonName: "etcd", usage: "serverAuth,clientAuth")
            try TestCA.issue(dir, name: "client", commonName: "whereabouts", usage: "clientAuth")
        }
        // Ports from a random block below the ephemeral range (32768–60999), where no outgoing
        // connection (etcd's own, between members) can hold them; parallel runs rarely meet.
        let base = Int.random(in: 20_000...32_000)
        members = (0..<count).map { Member(name: "m\($0)", clientPort: base + 2 * $0, peerPort: base + 2 * $0 + 1, process: nil) }
        for i in members.indices { try start(i) }
        try waitHealthy()
    }

    deinit {
        for i in members.indices { kill(member: i) }
        dir.remove()
    }

    var scheme: String { tls ? "https" : "http" }

    func start(_ i: Int) throws {
        let m = members[i]
        let cluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        var args = ["--name", m.name, "--data-dir", dir.file("data-\(m.name)"),
                    "--listen-client-urls", "\(scheme)://127.0.0.1:\(m.clientPort)",
                    "--advertise-client-urls", "\(scheme)://127.0.0.1:\(m.clientPort)",
                    "--listen-peer-urls", "http://127.0.0.1:\(m.peerPort)",
                    "--initial-advertise-peer-urls", "http://127.0.0.1:\(m.peerPort)",
                    "--initial-cluster", cluster, "--initial-cluster-token", "swcni-\(members[0].clientPort)",
                    "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "error"]
        if tls {
            args += ["--cert-file", dir.file("server.pem"), "--key-file", dir.file("server.key"),
                     "--client-cert-auth", "--trusted-ca-file", dir.file("ca.pem")]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        p.arguments = args
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        FileManager.default.createFile(atPath: dir.file("log-\(m.name)"), contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir.file("log-\(m.name)"))
        try p.run()
        members[i].process = p
    }

    /// Every running member answers and the cluster has a leader (etcdctl endpoint health).
    public func waitHealthy(timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let running = members.filter { $0.process?.isRunning == true }.map { "\(scheme)://127.0.0.1:\($0.clientPort)" }
        var argv = ["etcdctl", "--endpoints", running.joined(separator: ","), "--command-timeout=1s", "endpoint", "health"]
        if tls { argv += ["--cacert", caFile, "--cert", clientCertFile, "--key", clientKeyFile] }
        while true {
            let c = try Command.run(argv, env: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"])
            if c.status == 0 { return }
            if Date() > deadline {
                let logs = members.map { m in "\(m.name): " + ((try? dir.read("log-\(m.name)")) ?? "").split(separator: "\n").filter { !$0.contains("INFO") }.suffix(5).joined(separator: " | ") }
                throw CommandFailed(argv: argv, status: c.status, output: c.stdout + c.stderr + "\n" + logs.joined(separator: "\n"))
            }
            usleep(100_000)
        }
    }

    /// etcdctl against the running members, as root once authentication is on.
    func etcdctl(_ args: [String]) -> [String] {
        var argv = ["etcdctl", "--endpoints", members.filter { $0.process?.isRunning == true }.map { "\(scheme)://127.0.0.1:\($0.clientPort)" }.joined(separator: ",")]
        if tls { argv += ["--cacert", caFile, "--cert", clientCertFile, "--key", clientKeyFile] }
        if let rootUser { argv += ["--user", rootUser] }
        return argv + args
    }

    /// A user (with `password`) allowed to read and write under `prefix` only (a role of its own).
    public func addUser(_ user: String, password: String, prefix: String) throws {
        for args in [["role", "add", user], ["role", "grant-permission", user, "--prefix=true", "readwrite", prefix],
                     ["user", "add", "\(user):\(password)"], ["user", "grant-role", user, user]] {
            try Command.must(etcdctl(args), env: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"])
        }
    }

    /// Turns etcd's authentication on (a root user: etcdctl here goes as root from then on).
    public func enableAuthentication() throws {
        for args in [["user", "add", "root:root-pw"], ["user", "grant-role", "root", "root"], ["auth", "enable"]] {
            try Command.must(etcdctl(args), env: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"])
        }
        rootUser = "root:root-pw"
    }

    /// Turns authentication off and on again: every token handed out so far is void.
    public func revokeTokens() throws {
        let env = ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]
        try Command.must(etcdctl(["auth", "disable"]), env: env)
        try Command.must(etcdctl(["auth", "enable"]), env: env)
    }

    /// SIGKILLs a member (its PID only).
    public func kill(member i: Int) {
        guard let p = members[i].process, p.isRunning else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Keys under `prefix`, through etcdctl (independent of the client under test).
    public func keys(prefix: String) throws -> [String] {
        let argv = etcdctl(["get", "--prefix", "--keys-only", prefix])
        return try Command.must(argv, env: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]).stdout.split(separator: "\n").map(String.init)
    }

    /// Keys and values under `prefix`, through etcdctl's JSON output.
    public func values(prefix: String) throws -> [String: [UInt8]] {
        let argv = etcdctl(["-w", "json", "get", "--prefix", prefix])
        let json = try JSONValue.parse(try Command.must(argv, env: ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]).stdout)
        var out: [String: [UInt8]] = [:]
        for kv in json["kvs"]?.arrayValue ?? [] {
            guard let k = kv["key"]?.stringValue.flatMap({ Data(base64Encoded: $0) }) else { continue }
            out[String(decoding: k, as: UTF8.self)] = kv["value"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { Array($0) } ?? []
        }
        return out
    }
}
