import ArgumentParser
import Basics
import CNI
import CNIInvoke
import CNIRuntime
import LinuxSystem

/// The upstream cnitool's interface: `cnitool add|check|del|gc|status <net> <netns>`, configured
/// by NETCONFPATH, CNI_PATH, CNI_ARGS, CAP_ARGS and CNI_IFNAME; plus `version <plugin>`.
@main
struct CNITool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnitool",
        abstract: "Add, check, remove, gc or status network interfaces from a network namespace.",
        discussion: """
            Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH (plugin search path), \
            CNI_ARGS ("K=V;K2=V2"), CAP_ARGS (JSON object of capability arguments), CNI_IFNAME \
            (default eth0), CNI_CACHE_DIR (default /var/lib/cni; ours, not upstream's). The container \
            ID is "cnitool-" followed by 20 hex digits of sha512(netns path).
            """,
        version: SwiftCNI.version,
        subcommands: [Add.self, Check.self, Del.self, GC.self, Status.self, Version.self])
}

/// What every subcommand reads from the environment.
struct ToolEnvironment {
    let env = ProcessEnvironment.current()

    var runtime: CNIRuntime {
        CNIRuntime(pluginPaths: PluginLocator.splitPath(env["CNI_PATH"] ?? ""),
                   cacheDirectory: env["CNI_CACHE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ResultCache.defaultDirectory,
                   baseEnvironment: env)
    }

    func list(_ name: String) throws -> NetworkConfigList {
        let dir = env["NETCONFPATH"].flatMap { $0.isEmpty ? nil : $0 } ?? ConfigLoader.defaultDirectory
        return try ConfigLoader.loadList(directory: dir, name: name)
    }

    func runtimeConf(netns: String) throws -> RuntimeConf {
        let path = FileSystem.absolutePath(netns)
        // As upstream's cnitool: K=V pairs, neither side empty.
        let text = env["CNI_ARGS"] ?? ""
        for pair in text.split(separator: ";", omittingEmptySubsequences: false) where !text.isEmpty {
            let kv = pair.split(separator: "=", omittingEmptySubsequences: false)
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else { throw ToolError("invalid CNI_ARGS pair \"\(pair)\"") }
        }
        let args = try CNIArgs(parsing: text)
        var caps = JSONObject()
        if let text = env["CAP_ARGS"], !text.isEmpty {
            guard let v = try? JSONValue.parse(text), let o = v.objectValue else {
                throw ToolError("CAP_ARGS is not a JSON object")
            }
            caps = o
        }
        return RuntimeConf(containerID: ContainerIDs.cnitool(netnsPath: path), netns: path,
                           ifName: env["CNI_IFNAME"] ?? "eth0", args: args, capabilityArgs: caps)
    }
}

struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a subcommand body; any error becomes one line on stderr and exit status 1.
func perform(_ body: () throws -> Void) throws {
    do { try body() } catch {
        let text = (error as? CNIError)?.description ?? "\(error)"
        FileSystem.writeStderr("cnitool: \(text)\n")
        throw ExitCode(1)
    }
}

struct NetworkAndNamespace: ParsableArguments {
    @Argument(help: "The network name (the conflist's or conf's \"name\").") var network: String
    @Argument(help: "Path of the network namespace, e.g. /var/run/netns/pod1.") var netns: String
}

struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Attach the network to the namespace and print the result.")
    @OptionGroup var target: NetworkAndNamespace
    func run() throws {
        try perform {
            let tool = ToolEnvironment()
            let result = try tool.runtime.add(tool.list(target.network), tool.runtimeConf(netns: target.netns))
            try FileSystem.writeAll(fd: 1, result.json.prettyPrinted() + [0x0A])
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the attachment against the cached result.")
    @OptionGroup var target: NetworkAndNamespace
    func run() throws {
        try perform {
            let tool = ToolEnvironment()
            try tool.runtime.check(tool.list(target.network), tool.runtimeConf(netns: target.netns))
        }
    }
}

struct Del: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Detach the network from the namespace.")
    @OptionGroup var target: NetworkAndNamespace
    func run() throws {
        try perform {
            let tool = ToolEnvironment()
            try tool.runtime.del(tool.list(target.network), tool.runtimeConf(netns: target.netns))
        }
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove cached attachments of the network that are not listed as valid, then GC each plugin.",
        discussion: "Without --valid every cached attachment of the network is removed, as upstream cnitool does.")
    @Argument(help: "The network name.") var network: String
    @Argument(help: "Ignored; accepted for upstream compatibility.") var netns: String?
    @Option(name: .customLong("valid"), help: "An attachment still in use, as CONTAINERID/IFNAME (repeatable).")
    var valid: [String] = []
    func run() throws {
        try perform {
            var set = Set<Attachment>()
            for v in valid {
                guard let slash = v.lastIndex(of: "/"), slash != v.startIndex, v.index(after: slash) != v.endIndex else {
                    throw ToolError("--valid takes CONTAINERID/IFNAME, got \"\(v)\"")
                }
                set.insert(Attachment(containerID: String(v[..<slash]), ifname: String(v[v.index(after: slash)...])))
            }
            let tool = ToolEnvironment()
            try tool.runtime.gc(tool.list(network), valid: set)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the network's plugins whether they are ready for ADD.")
    @Argument(help: "The network name.") var network: String
    @Argument(help: "Ignored; accepted for upstream compatibility.") var netns: String?
    func run() throws {
        try perform {
            let tool = ToolEnvironment()
            try tool.runtime.status(tool.list(network))
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the spec versions a plugin supports.")
    @Argument(help: "Plugin name, searched in CNI_PATH.") var plugin: String
    func run() throws {
        try perform {
            let info = try ToolEnvironment().runtime.versionInfo(pluginType: plugin)
            let json: JSONValue = ["cniVersion": .string(info.cniVersion),
                                   "supportedVersions": .array(info.supported.map { .string($0) })]
            try FileSystem.writeAll(fd: 1, json.prettyPrinted() + [0x0A])
        }
    }
}
