import CNI
import Foundation
import LinuxSystem

/// Where `swift build` put this package's executables (next to the test bundle), with every
/// plugin name linked to the multi-call `swift-cni` there, as an install links them.
public enum BuildProducts {
    public static let directory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // An .xctest bundle directory (other platforms) sits in the products directory too.
        while dir.hasSuffix(".xctest") || dir.contains(".xctest/") { dir = (dir as NSString).deletingLastPathComponent }
        linkPlugins(in: dir)
        return dir
    }()

    public static func path(_ name: String) -> String { directory + "/" + name }

    /// Links each name `swift-cni --list` prints to `swift-cni` in `dir` (replacing what an
    /// older build left there); false when `dir` has no swift-cni.
    @discardableResult
    public static func linkPlugins(in dir: String) -> Bool {
        guard let out = try? Subprocess.run(dir + "/swift-cni", arguments: ["--list"], environment: []), out.status == 0 else { return false }
        for name in String(decoding: out.stdout, as: UTF8.self).split(separator: "\n") {
            let link = dir + "/" + name
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "swift-cni" { continue }
            unlink(link)
            guard symlink("swift-cni", link) == 0 else { return false }
        }
        return true
    }
}

/// A fresh directory under /tmp, removed by `remove()` (call it in a defer).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "swcni") throws {
        let p = "/tmp/\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func write(_ name: String, _ text: String) throws {
        let f = file(name)
        try FileManager.default.createDirectory(atPath: (f as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: f, atomically: true, encoding: .utf8)
    }

    public func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }

    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Starts `binary` with `stdin`, SIGKILLs it (by its PID) after a random pause of up to
/// `maxMicroseconds`, and reaps it: a plugin killed at a random point of its work.
public func killMidway(_ binary: String, environment: [String: String], stdin: String, maxMicroseconds: UInt32 = 12_000,
                       arguments: [String] = []) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = arguments
    p.environment = environment
    let input = Pipe()
    p.standardInput = input
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    usleep(UInt32.random(in: 0...maxMicroseconds))
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
}

/// Runs a command, returns its exit status and output.
public struct Command: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var json: JSONValue? { try? JSONValue.parse(stdout) }

    @discardableResult
    public static func run(_ argv: [String], env: [String: String]? = nil, stdin: String = "") throws -> Command {
        let environment = env.map(ProcessEnvironment.encode) ?? ProcessEnvironment.encode(ProcessEnvironment.current())
        var path = argv[0]
        if !path.contains("/") {
            path = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"].map { $0 + "/" + argv[0] }
                .first { FileManager.default.isExecutableFile(atPath: $0) } ?? argv[0]
        }
        let out = try Subprocess.run(path, arguments: Array(argv.dropFirst()), environment: environment,
                                     stdin: Array(stdin.utf8), captureStderr: true)
        return Command(status: out.status, stdout: String(decoding: out.stdout, as: UTF8.self),
                       stderr: String(decoding: out.stderr, as: UTF8.self))
    }

    /// Runs and throws unless it exits 0.
    @discardableResult
    public static func must(_ argv: [String], env: [String: String]? = nil, stdin: String = "") throws -> Command {
        let c = try run(argv, env: env, stdin: stdin)
        guard c.status == 0 else {
            throw CommandFailed(argv: argv, status: c.status, output: c.stdout + c.stderr)
        }
        return c
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public let argv: [String]
    public let status: Int32
    public let output: String
    public var description: String { "\(argv.joined(separator: " ")) exited \(status): \(output)" }

    public init(argv: [String], status: Int32, output: String) {
        (self.argv, self.status, self.output) = (argv, status, output)
    }
}

/// One JSON document per line (the noop plugin's log).
public func jsonLines(_ text: String) throws -> [JSONValue] {
    try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
}

/// A server a test starts (the API and kubelet stand-ins): its first line on stdout (a file in
/// `directory`) says it is ready; stderr goes to `server.stderr` there (`stderr(in:)` for a
/// failure message); it is ended by its PID. Spawned with
/// posix_spawn, not Foundation's Process (whose CFSocket wake-up cannot be made in the
/// kernel-lab guest's chroot).
public enum ServerProcess {
    /// Starts it and waits (up to 30 s) for its first line; "" when it ended or never said one.
    public static func start(_ executable: String, _ arguments: [String], directory: String) throws -> (process: BackgroundProcess, firstLine: String) {
        let out = directory + "/server.stdout"
        let p = try BackgroundProcess(executable, arguments: arguments, stdoutPath: out, stderrPath: directory + "/server.stderr")
        for _ in 0..<3000 {
            if let text = try? String(contentsOfFile: out, encoding: .utf8), let newline = text.firstIndex(of: "\n") {
                return (p, String(text[..<newline]))
            }
            guard p.isRunning else { break }
            usleep(10_000)
        }
        return (p, "")
    }

    public static func stop(_ p: BackgroundProcess) { p.stop(SIGKILL, grace: 0) }

    /// What the server said on stderr (the last 2,000 characters).
    public static func stderr(in directory: String) -> String {
        String(((try? String(contentsOfFile: directory + "/server.stderr", encoding: .utf8)) ?? "").suffix(2000))
    }
}
