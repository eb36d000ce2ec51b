import CNI

/// What multus-cni's thin_entrypoint writes in `--multus-conf-file=auto` mode: `00-multus.conf`
/// (or `00-multus.conflist` for spec ≥ 1.0.0) wrapping the node's first network config as
/// multus's one delegate, with the master's capabilities, its cniVersion, and the multus keys
/// the flags ask for. Pure: the master's bytes in, the file's name and bytes out.
public struct MultusConfigGenerator: Sendable {
    public var cniVersion: String?
    public var overrideNetworkName = false
    public var namespaceIsolation = false
    public var globalNamespaces = ""
    public var logToStderr = true
    public var logLevel = ""
    public var logFile = ""
    public var additionalBinDir = ""
    public var readinessIndicatorFile = ""
    public var kubeconfigOnHost = "/etc/cni/net.d/multus.d/multus.kubeconfig"

    public init() {}

    public struct Output: Sendable, Equatable {
        public var fileName: String
        public var bytes: [UInt8]
    }

    public static let outputNames = ["00-multus.conf", "00-multus.conflist"]

    /// Is this config multus's own (ours or anyone's): never to be wrapped again. upstream
    /// v4.0.2 with its default flags wraps its own output on every pass (170 KB of nested
    /// delegates after 4 s, measured).
    public static func isMultus(name: String, _ json: JSONValue) -> Bool {
        if outputNames.contains(name) { return true }
        if json["type"]?.stringValue == "multus" { return true }
        return json["plugins"]?.arrayValue?.contains { $0["type"]?.stringValue == "multus" } ?? false
    }

    public func generate(master bytes: [UInt8], path: String) throws(InstallError) -> Output {
        let master: JSONValue
        do { master = try JSONValue.parse(bytes) } catch {
            throw InstallError("cannot read master CNI config json \(path): \(error)")
        }
        guard let masterVersion = master["cniVersion"]?.stringValue else {
            throw InstallError("cannot get cniVersion in master CNI config file \(path)")
        }
        if let cniVersion, !cniVersion.isEmpty, cniVersion != masterVersion {
            throw InstallError("Multus cni version is \"\(cniVersion)\" while master plugin cni version is \"\(masterVersion)\"")
        }
        var name = "multus-cni-network"
        if overrideNetworkName {
            guard let n = master["name"]?.stringValue else { throw InstallError("cannot get name in master CNI config file \(path)") }
            name = n
        }
        // Capabilities: the conflist's plugins', or the conf's own.
        var capabilities = JSONObject()
        let sources = master["plugins"]?.arrayValue ?? [master]
        for p in sources {
            for e in (p["capabilities"]?.objectValue ?? JSONObject()).entries where e.value.boolValue != nil {
                capabilities[e.key] = e.value
            }
        }
        var multus = JSONObject()
        multus["type"] = "multus"
        if !capabilities.entries.isEmpty {
            multus["capabilities"] = .object(JSONObject(capabilities.entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
        if namespaceIsolation { multus["namespaceIsolation"] = true }
        if !globalNamespaces.isEmpty { multus["globalNamespaces"] = .string(globalNamespaces) }
        if !logToStderr { multus["logToStderr"] = false }
        switch logLevel.lowercased() {
        case "": break
        case "debug", "error", "panic", "verbose": multus["logLevel"] = .string(logLevel.lowercased())
        default: throw InstallError("Log levels should be one of: debug/verbose/error/panic, did not understand: \"\(logLevel)\"")
        }
        if !logFile.isEmpty { multus["logFile"] = .string(logFile) }
        if !additionalBinDir.isEmpty { multus["binDir"] = .string(additionalBinDir) }
        if !readinessIndicatorFile.isEmpty { multus["readinessindicatorfile"] = .string(readinessIndicatorFile) }
        multus["kubeconfig"] = .string(kubeconfigOnHost)
        multus["delegates"] = .array([master])

        var top = JSONObject()
        top["cniVersion"] = .string(masterVersion)
        top["name"] = .string(name)
        let conflist = Self.isAtLeast1(masterVersion)
        if conflist {
            top["plugins"] = .array([.object(multus)])
        } else {
            for e in multus.entries { top[e.key] = e.value }
        }
        return Output(fileName: conflist ? Self.outputNames[1] : Self.outputNames[0],
                      bytes: JSONValue.object(top).prettyPrinted() + [0x0A])
    }

    /// Spec 1.0.0 and later take only conflists.
    static func isAtLeast1(_ version: String) -> Bool {
        guard let major = version.split(separator: ".").first.flatMap({ Int($0) }) else { return false }
        return major >= 1
    }
}

/// An installer failure: said on stderr, exit status 1.
public struct InstallError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
