import CNI

/// A network configuration list (`.conflist`), or a single `.conf` wrapped as a list of one,
/// as libcni loads them.
public struct NetworkConfigList: Sendable {
    public var name: String
    /// The version the runtime speaks to this list's plugins: the highest of `cniVersion` and
    /// `cniVersions` that this runtime knows.
    public var cniVersion: String
    public var disableCheck: Bool
    public var disableGC: Bool
    public var plugins: [JSONObject]
    /// The file's bytes, as cached for DEL.
    public var bytes: [UInt8]

    /// Parses a conflist: `name` and a non-empty `plugins` list, each with a `type`.
    public init(conflist bytes: [UInt8], source: String = "configuration list") throws(CNIError) {
        let json = try Self.parseObject(bytes, source: source)
        let r = JSONReader(json, path: "")
        guard let name = try r.string("name"), !name.isEmpty else {
            throw CNIError(.invalidNetworkConfig, "error parsing \(source): no name")
        }
        self.name = name
        self.bytes = bytes
        let declared = try r.string("cniVersion") ?? ""
        cniVersion = try Self.selectVersion(declared: declared, versions: r.stringArray("cniVersions") ?? [])
        disableCheck = try Self.flag(r, "disableCheck")
        disableGC = try Self.flag(r, "disableGC")
        guard let list = try r.array("plugins"), !list.isEmpty else {
            throw CNIError(.invalidNetworkConfig, "error parsing \(source): no plugins in list")
        }
        plugins = []
        for (i, p) in list.enumerated() {
            let pr = r.child("plugins[\(i)]", p)
            try pr.requireObject()
            guard let t = try pr.string("type"), !t.isEmpty else {
                throw CNIError(.invalidNetworkConfig, "error parsing \(source): plugins[\(i)] has no type")
            }
            plugins.append(p.objectValue!)
        }
    }

    /// Wraps a single plugin config (`.conf`) as libcni's ConfListFromConf does.
    public init(conf bytes: [UInt8], source: String = "configuration") throws(CNIError) {
        let json = try Self.parseObject(bytes, source: source)
        let r = JSONReader(json, path: "")
        guard let t = try r.string("type"), !t.isEmpty else {
            throw CNIError(.invalidNetworkConfig, "error parsing \(source): missing 'type'")
        }
        let name = try r.string("name") ?? ""
        let version = try r.string("cniVersion") ?? ""
        let wrapped: JSONValue = [
            "cniVersion": .string(version), "name": .string(name), "plugins": [json],
        ]
        try self.init(conflist: wrapped.serialized(), source: source)
    }

    static func parseObject(_ bytes: [UInt8], source: String) throws(CNIError) -> JSONValue {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw CNIError(.decodingFailure, "error parsing \(source)", details: error.description)
        }
        guard json.objectValue != nil else {
            throw CNIError(.decodingFailure, "error parsing \(source)", details: "expected a JSON object")
        }
        return json
    }

    /// libcni accepts true/false and the strings "true"/"false".
    static func flag(_ r: JSONReader, _ key: String) throws(CNIError) -> Bool {
        guard let v = r.raw(key) else { return false }
        if let b = v.boolValue { return b }
        switch v.stringValue?.lowercased() {
        case "true": return true
        case "false": return false
        default: throw r.fail(key, "expected true or false")
        }
    }

    /// The highest of `cniVersion` ∪ `cniVersions` this runtime knows; a version it does not know
    /// is kept as written when nothing better exists (the plugin then reports code 1).
    static func selectVersion(declared: String, versions: [String]) throws(CNIError) -> String {
        let all = ([declared] + versions).filter { !$0.isEmpty }
        for v in all where SemanticVersion(v) == nil {
            throw CNIError(.decodingFailure, "invalid version \"\(v)\"")
        }
        let known = all.compactMap { CNIVersion(rawValue: $0) }
        if let best = known.max() { return best.rawValue }
        return declared.isEmpty ? CNIVersion.implicit.rawValue : declared
    }

    public var version: CNIVersion? { CNIVersion(rawValue: cniVersion) }
}
