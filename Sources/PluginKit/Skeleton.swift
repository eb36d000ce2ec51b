import Basics
import CNI
import CNIInvoke
import Glibc
import LinuxSystem

/// Runs a plugin as the spec says: the verb from CNI_COMMAND, config on stdin, the result or a
/// coded error JSON on stdout. Everything is injected so that tests pass a dictionary and bytes.
public enum Skeleton {
    public struct Output: Sendable {
        public var stdout: [UInt8] = []
        public var stderr: [UInt8] = []
        public var exitCode: Int32 = 0

        /// The one place an error becomes protocol output: its CNI code and message as JSON on
        /// stdout, exit 1; undo steps of a failed ADD that failed themselves on stderr.
        mutating func report(_ error: any Error, cniVersion: String) {
            let (inner, undoFailures) = UnwoundError.unwrap(error)
            stdout = CNIError.from(inner).json(cniVersion: cniVersion).prettyPrinted()
            exitCode = 1
            for f in undoFailures { stderr += Array("rollback incomplete: \(f)\n".utf8) }
        }
    }

    /// The real process: environment, stdin, stdout, stderr, exit.
    public static func main(_ plugin: some Plugin) -> Never {
        let out = run(plugin, environment: ProcessEnvironment.current()) { () throws(SystemError) in
            try FileSystem.readAll(fd: 0, subject: "stdin")
        }
        try? FileSystem.writeAll(fd: 1, out.stdout)
        try? FileSystem.writeAll(fd: 2, out.stderr)
        exit(out.exitCode)
    }

    /// One invocation. `readStdin` is called only for verbs that take a config. `calledAs`: the
    /// plugin's name (default: this process's argv[0]), for a delegate run inside another plugin's process.
    public static func run(_ plugin: some Plugin, environment env: [String: String], calledAs: String? = nil,
                           readStdin: () throws(SystemError) -> [UInt8]) -> Output {
        var out = Output()
        var errorVersion = CNIVersion.latest.rawValue
        do {
            let commandText = env["CNI_COMMAND"] ?? ""
            if commandText.isEmpty {
                let versions = plugin.supportedVersions.map(\.rawValue).joined(separator: ", ")
                out.stderr = Array("\(plugin.about) (swift-cni \(SwiftCNI.version))\nCNI protocol versions supported: \(versions)\n".utf8)
                return out
            }
            let command = try validateEnvironment(commandText, env)
            if command == .version {
                out.stdout = versionReply(plugin.supportedVersions).serialized() + [0x0A]
                return out
            }
            let stdin: [UInt8]
            do { stdin = try readStdin() } catch {
                throw CNIError(.ioFailure, "error reading from stdin: \(error)")
            }
            let config = try NetConf(bytes: stdin)
            errorVersion = config.cniVersionString
            try validateAttachment(command, env)
            let request = try request(command, env, stdin: stdin, config: config, supported: plugin.supportedVersions)
            #if DEBUG
            if command == .add { armFault(env, calledAs: calledAs ?? CommandLine.arguments.first.map(FileSystem.baseName) ?? "") }
            #endif
            out.stdout = try dispatch(plugin, request)
        } catch {
            out.report(error, cniVersion: errorVersion)
        }
        return out
    }

    #if DEBUG
    /// `SWCNI_FAULT=<plugin>:<n>` (debug builds, tests only): the ADD of the plugin run by that
    /// name fails at its nth step (CNI's FaultInjection). A delegate run by another name is not armed.
    static func armFault(_ env: [String: String], calledAs: String) {
        guard let spec = env["SWCNI_FAULT"], let colon = spec.lastIndex(of: ":"), let n = Int(spec[spec.index(after: colon)...]),
              String(spec[..<colon]) == calledAs else { return }
        FaultInjection.arm(atStep: n)
    }
    #endif

    /// The verb, once the variables it requires are set and the per-attachment ones are valid.
    static func validateEnvironment(_ commandText: String, _ env: [String: String]) throws(CNIError) -> Command {
        let command = Command.parse(commandText)
        let missing = ProtocolVariable.missing(for: command, in: env)
        if !missing.isEmpty {
            throw CNIError(.invalidEnvironment, "required env variables [\(missing.joined(separator: ","))] missing")
        }
        guard let command else { throw CNIError(.invalidEnvironment, "unknown CNI_COMMAND: \(commandText)") }
        return command
    }

    /// The attachment's names (after the config, as the reference checks them): a container ID
    /// and an interface name the kernel takes as they are. DEL accepts a `%` template name: an
    /// attachment made with one by an older version must still release what it holds.
    static func validateAttachment(_ command: Command, _ env: [String: String]) throws(CNIError) {
        guard command.namesAnAttachment else { return }
        try Names.validateContainerID(env["CNI_CONTAINERID"] ?? "")
        try Names.validateInterfaceName(env["CNI_IFNAME"] ?? "", allowTemplate: command == .del)
        try checkNotOwnNamespace(env)
    }

    static func request(_ command: Command, _ env: [String: String], stdin: [UInt8], config: NetConf,
                        supported: [CNIVersion]) throws(CNIError) -> PluginRequest {
        let version = try gate(command, config: config, supported: supported)
        return PluginRequest(
            command: command, containerID: env["CNI_CONTAINERID"] ?? "", netns: env["CNI_NETNS"] ?? "",
            ifName: env["CNI_IFNAME"] ?? "", rawArgs: env["CNI_ARGS"] ?? "",
            path: PluginLocator.splitPath(env["CNI_PATH"] ?? ""), stdin: stdin, config: config,
            version: version, environment: env)
    }

    /// Runs the verb; returns what goes to stdout.
    static func dispatch(_ plugin: some Plugin, _ request: PluginRequest) throws -> [UInt8] {
        switch request.command {
        case .add:
            let result = try plugin.add(request)
            do {
                return try result.json(version: request.version).prettyPrinted()
            } catch {
                // The result cannot be said in the config's version (an L2-only result for
                // ≤ 0.2.0): the ADD fails, so undo what it did.
                try? plugin.del(request.with(command: .del))
                throw error
            }
        case .del: try plugin.del(request)
        case .check: try plugin.check(request)
        case .status: try plugin.status(request)
        case .gc: try plugin.gc(request)
        case .version: break
        }
        return []
    }

    /// CNI_NETNS naming the plugin's own namespace is a runtime mistake that would configure the
    /// host: code 8, as the reference skeleton (unless CNI_NETNS_OVERRIDE is 1/true, its test knob).
    /// Checked before the plugin runs; a path that cannot be read is left to the plugin.
    static func checkNotOwnNamespace(_ env: [String: String]) throws(CNIError) {
        guard let netns = env["CNI_NETNS"], !netns.isEmpty else { return }
        let override = (env["CNI_NETNS_OVERRIDE"] ?? "").lowercased()
        if override == "1" || override == "true" { return }
        guard let target = FileSystem.identity(netns), let own = FileSystem.identity("/proc/self/ns/net") else { return }
        if target == own {
            throw CNIError(.invalidNetNS, "plugin's netns and netns from CNI_NETNS should not be the same")
        }
    }

    /// `{"cniVersion":"1.1.0","supportedVersions":[…]}`.
    public static func versionReply(_ versions: [CNIVersion]) -> JSONValue {
        ["cniVersion": .string(CNIVersion.latest.rawValue),
         "supportedVersions": .array(versions.map { .string($0.rawValue) })]
    }

    /// The verb's minimum spec version, then membership in what the plugin supports.
    static func gate(_ command: Command, config: NetConf, supported: [CNIVersion]) throws(CNIError) -> CNIVersion {
        if let minimum = command.minimumVersion {
            guard let v = SemanticVersion(config.cniVersionString) else {
                throw CNIError(.decodingFailure, "invalid version \"\(config.cniVersionString)\"")
            }
            if v < minimum.semantic {
                throw CNIError(.incompatibleVersion, "config version does not allow \(command.rawValue)")
            }
        }
        return try config.version(supported: supported)
    }
}
