import CNI
import LinuxSystem
import PluginKit

/// A test plugin in the manner of upstream's plugins/test/noop. Its config's "noop" object says
/// what to do (run under a name ending in "-ipam", it is an IPAM plugin reading "ipam" instead):
///   "log": path    — append one JSON line per invocation (command, CNI_* values, stdin)
///   "failOn": ["ADD", …], "code": n, "msg": "…"  — fail those verbs with that error
///   "run": [argv…], "runOn": "ADD" — run a command first
///   "result": {…}  — the ADD result (read in the config's version); default: prevResult, or
///                    the IPAM delegate's result when "ipam" names a type, or an empty result
struct NoopPlugin: Plugin {
    let about = "swift-cni test plugin: records invocations and answers as configured"

    let asIPAM = CommandLine.arguments.first?.hasSuffix("-ipam") ?? false

    func section(_ r: PluginRequest) -> JSONObject {
        (asIPAM ? r.config.ipam : r.config.raw["noop"]?.objectValue) ?? JSONObject()
    }

    func behave(_ r: PluginRequest) throws {
        let noop = section(r)
        if let log = noop["log"]?.stringValue {
            let entry: JSONValue = [
                "command": .string(r.command.rawValue), "containerID": .string(r.containerID),
                "netns": .string(r.netns), "ifName": .string(r.ifName), "args": .string(r.rawArgs),
                "path": .string(r.path.joined(separator: ":")),
                "stdin": .string(String(decoding: r.stdin, as: UTF8.self)),
            ]
            let old = (try? FileSystem.read(log)) ?? []
            try FileSystem.writeAtomically(log, old + entry.serialized() + [0x0A], mode: 0o644)
        }
        // "run": a command to run first (tests use it to change the world mid-ADD).
        if let argv = noop["run"]?.arrayValue?.compactMap(\.stringValue), let path = argv.first,
           r.command.rawValue == (noop["runOn"]?.stringValue ?? "ADD") {
            _ = try Subprocess.run(path, arguments: Array(argv.dropFirst()), environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        }
        let failOn = noop["failOn"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if failOn.contains(r.command.rawValue) {
            throw CNIError(code: noop["code"]?.intValue ?? 11, msg: noop["msg"]?.stringValue ?? "noop failure")
        }
    }

    func add(_ r: PluginRequest) throws -> CNIResult {
        try behave(r)
        if let result = section(r)["result"] {
            return try CNIResult(json: result, version: r.version)
        }
        if !asIPAM, let ipam = r.config.ipamType { return try Delegate().add(ipam, r) }
        return try r.config.prevResult() ?? CNIResult()
    }

    func del(_ r: PluginRequest) throws {
        try behave(r)
        if !asIPAM, let ipam = r.config.ipamType { try Delegate().del(ipam, r) }
    }

    func check(_ r: PluginRequest) throws {
        try behave(r)
        guard try r.config.prevResult() != nil else {
            throw CNIError(.invalidNetworkConfig, "Required prevResult missing")
        }
    }

    func status(_ r: PluginRequest) throws { try behave(r) }
    func gc(_ r: PluginRequest) throws { try behave(r) }
}

Skeleton.main(NoopPlugin())
