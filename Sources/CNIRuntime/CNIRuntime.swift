import Basics
import CNI
import CNIInvoke
import LinuxSystem

/// What libcni does for a runtime: runs a network configuration list's plugins for ADD (in
/// order, each getting the previous result), DEL/CHECK (in reverse / in order, with the cached
/// final result), STATUS and GC, and keeps the result cache.
public struct CNIRuntime: Sendable {
    /// Where plugins are searched (CNI_PATH).
    public var pluginPaths: [String]
    public var cache: ResultCache
    public var invoker: any PluginInvoker
    /// The environment plugins inherit, before the CNI_* variables are set.
    public var baseEnvironment: [String: String]

    public init(pluginPaths: [String], cacheDirectory: String = ResultCache.defaultDirectory,
                invoker: any PluginInvoker = ExecPluginInvoker(), baseEnvironment: [String: String] = [:]) {
        self.pluginPaths = pluginPaths
        self.cache = ResultCache(directory: cacheDirectory)
        self.invoker = invoker
        self.baseEnvironment = baseEnvironment
    }

    /// A result together with the version it is expressed in.
    public struct VersionedResult: Sendable {
        public var result: CNIResult
        public var version: CNIVersion
        public var json: JSONValue { (try? result.json(version: version)) ?? .null }
    }

    // MARK: ADD

    public func add(_ list: NetworkConfigList, _ rt: RuntimeConf) throws(CNIError) -> VersionedResult {
        try Names.validateContainerID(rt.containerID)
        try Names.validateNetworkName(list.name)
        try Names.validateInterfaceName(rt.ifName)
        var prev: VersionedResult?
        for plugin in list.plugins {
            let out = try run(.add, plugin, list: list, rt: rt, prevResult: prev?.json)
            prev = try decodeResult(out, plugin: plugin, list: list)
        }
        guard let final = prev else { throw CNIError(.invalidNetworkConfig, "no plugins in list") }
        do {
            try cache.write(ResultCache.Entry(
                containerID: rt.containerID, ifName: rt.ifName, networkName: list.name, netns: rt.netns,
                config: list.bytes, cniArgs: rt.args, capabilityArgs: rt.capabilityArgs, result: final.json))
        } catch {
            throw CNIError(.ioFailure, "failed to set network \"\(list.name)\" cached result", details: error.description)
        }
        return final
    }

    // MARK: CHECK

    public func check(_ list: NetworkConfigList, _ rt: RuntimeConf) throws(CNIError) {
        try requireVersion(list, at: .v0_4_0, for: "CHECK")
        if list.disableCheck { return }
        guard let cached = cachedResult(list, rt) else {
            throw CNIError(.invalidNetworkConfig,
                           "no cached result for network \"\(list.name)\" (\(rt.containerID), \(rt.ifName)): was it added?")
        }
        for plugin in list.plugins {
            _ = try run(.check, plugin, list: list, rt: rt, prevResult: cached)
        }
    }

    // MARK: DEL

    /// DELs every plugin in reverse order with the cached result (≥ 0.4.0), then drops the cache.
    /// A missing or unreadable cache is not an error.
    public func del(_ list: NetworkConfigList, _ rt: RuntimeConf) throws(CNIError) {
        let prev = (list.version ?? .v0_1_0) >= .v0_4_0 ? cachedResult(list, rt) : nil
        for plugin in list.plugins.reversed() {
            _ = try run(.del, plugin, list: list, rt: rt, prevResult: prev)
        }
        cache.delete(network: list.name, containerID: rt.containerID, ifName: rt.ifName)
    }

    // MARK: STATUS

    /// Asks each plugin in order; the first that is not ready answers for the list. Lists older
    /// than 1.1.0 have no STATUS: they count as ready (libcni's GetStatusNetworkList).
    public func status(_ list: NetworkConfigList) throws(CNIError) {
        guard let v = SemanticVersion(list.cniVersion), v >= CNIVersion.v1_1_0.semantic else { return }
        for plugin in list.plugins {
            _ = try run(.status, plugin, list: list, rt: nil, prevResult: nil)
        }
    }

    // MARK: GC

    /// Deletes every cached attachment of this network not in `valid`, then (≥ 1.1.0) sends GC with
    /// the valid list to every plugin. Keeps going after errors and reports them all.
    public func gc(_ list: NetworkConfigList, valid: Set<Attachment>) throws(CNIError) {
        if list.disableGC { return }
        var steps = BestEffort()
        for entry in cache.entries(network: list.name) where !valid.contains(entry.runtimeConf.attachment) {
            steps.run { try del(list, entry.runtimeConf) }
        }
        if let v = list.version, v >= .v1_1_0 {
            let attachments = JSONValue.array(valid.sorted { ($0.containerID, $0.ifname) < ($1.containerID, $1.ifname) }.map(\.json))
            for plugin in list.plugins {
                var p = plugin
                p[Attachment.validAttachmentsKey] = attachments
                p[Attachment.legacyAttachmentsKey] = attachments
                steps.run { _ = try run(.gc, p, list: list, rt: nil, prevResult: nil) }
            }
        }
        try steps.finish()
    }

    // MARK: VERSION

    /// A plugin's supported versions, asked as libcni does (dummy netns/ifname/path).
    public func versionInfo(pluginType: String) throws(CNIError) -> (cniVersion: String, supported: [String]) {
        var env = baseEnvironment
        env["CNI_COMMAND"] = "VERSION"
        env["CNI_NETNS"] = "dummy"
        env["CNI_IFNAME"] = "dummy"
        env["CNI_PATH"] = "dummy"
        let stdin = JSONValue.object(JSONObject([("cniVersion", .string(CNIVersion.latest.rawValue))])).serialized()
        let out = try invoker.invoke(type: pluginType, paths: pluginPaths, environment: env, stdin: stdin)
        guard let json = try? JSONValue.parse(out), let reported = json["cniVersion"]?.stringValue else {
            throw CNIError(.decodingFailure, "plugin \"\(pluginType)\" gave an unreadable VERSION reply")
        }
        // Only 0.2.0 plugins may leave out supportedVersions (they support 0.1.0 and 0.2.0).
        if let list = json["supportedVersions"]?.arrayValue {
            return (reported, list.compactMap(\.stringValue))
        }
        guard reported == "0.2.0" else {
            throw CNIError(.decodingFailure, "plugin \"\(pluginType)\" gave a VERSION reply without supportedVersions")
        }
        return (reported, ["0.1.0", "0.2.0"])
    }

    // MARK: Internals

    func requireVersion(_ list: NetworkConfigList, at minimum: CNIVersion, for verb: String) throws(CNIError) {
        guard let v = SemanticVersion(list.cniVersion), v >= minimum.semantic else {
            throw CNIError(.incompatibleVersion, "configuration version \"\(list.cniVersion)\" does not support the \(verb) command")
        }
    }

    func cachedResult(_ list: NetworkConfigList, _ rt: RuntimeConf) -> JSONValue? {
        guard let entry = cache.read(network: list.name, containerID: rt.containerID, ifName: rt.ifName),
              let raw = entry.result, let version = list.version,
              let result = try? CNIResult(json: raw, fallback: version),
              let converted = try? result.json(version: version) else { return nil }
        return converted
    }

    /// A chain member's result, read in its own version (missing or empty: the list's, as libcni).
    func decodeResult(_ out: [UInt8], plugin: JSONObject, list: NetworkConfigList) throws(CNIError) -> VersionedResult {
        let type = plugin["type"]?.stringValue ?? ""
        let json: JSONValue
        do { json = try JSONValue.parse(out) } catch {
            throw CNIError(.decodingFailure, "plugin type=\"\(type)\" gave an unreadable result", details: "\(error)")
        }
        do {
            let version = try CNIResult.version(of: json, fallback: list.version ?? .latest)
            return VersionedResult(result: try CNIResult(json: json, version: version), version: version)
        } catch {
            throw CNIError(code: error.code, msg: "plugin type=\"\(type)\" gave an invalid result", details: error.description)
        }
    }

    /// The config one plugin gets (libcni's buildOneConfig): the plugin object with the list's
    /// name and version, the previous result, and runtimeConfig from its capabilities; keys sorted
    /// as Go marshals the map.
    public func requestConfig(_ plugin: JSONObject, list: NetworkConfigList, rt: RuntimeConf?,
                              prevResult: JSONValue?) -> [UInt8] {
        var p = plugin
        p["name"] = .string(list.name)
        p["cniVersion"] = .string(list.cniVersion)
        if let prevResult { p["prevResult"] = prevResult }
        if let rt {
            var rc = JSONObject()
            for cap in plugin["capabilities"]?.objectValue ?? JSONObject() where cap.value.boolValue == true {
                if let v = rt.capabilityArgs[cap.key] { rc[cap.key] = v }
            }
            if !rc.isEmpty { p["runtimeConfig"] = .object(rc) }
        }
        return JSONValue.object(p).serialized(keys: .sorted)
    }

    func run(_ command: Command, _ plugin: JSONObject, list: NetworkConfigList, rt: RuntimeConf?,
             prevResult: JSONValue?) throws(CNIError) -> [UInt8] {
        let type = plugin["type"]?.stringValue ?? ""
        // A new dictionary, not a mutated copy of the base: copy-on-write goes through a stdlib
        // specialisation that instantiates its storage type from a mangled name and checks its
        // generic requirements — a conformance scan costing ~0.2 M instructions per process in a
        // large binary (multus).
        var env = [String: String](minimumCapacity: baseEnvironment.count + 6)
        for (k, v) in baseEnvironment { env[k] = v }
        env["CNI_COMMAND"] = command.rawValue
        env["CNI_CONTAINERID"] = rt?.containerID ?? ""
        env["CNI_NETNS"] = rt?.netns ?? ""
        env["CNI_ARGS"] = rt?.args.encoded ?? ""
        env["CNI_IFNAME"] = rt?.ifName ?? ""
        env["CNI_PATH"] = pluginPaths.joinedWith(":")
        let stdin = requestConfig(plugin, list: list, rt: rt, prevResult: prevResult)
        do {
            return try invoker.invoke(type: type, paths: pluginPaths, environment: env, stdin: stdin)
        } catch {
            var desc = "type=\"\(type)\""
            if let n = plugin["name"]?.stringValue, !n.isEmpty { desc += " name=\"\(n)\"" }
            throw CNIError(code: error.code, msg: "plugin \(desc) failed (\(command.rawValue.lowercased())): \(error.msg)",
                           details: error.details)
        }
    }
}
