/// One plugin's network configuration as it arrives on stdin: the well-known keys typed, and the
/// whole object kept (`raw`) so plugins read their own keys. (Delegates get the stdin bytes
/// themselves, unchanged.)
public struct NetConf: Sendable {
    public var raw: JSONObject
    /// The version as written ("0.1.0" when absent).
    public var cniVersionString: String
    public var name: String
    public var type: String
    public var capabilities: [String: Bool]
    public var ipam: JSONObject?
    public var dns: DNS
    public var runtimeConfig: JSONObject
    /// `args.cni`, the newer home of per-attachment arguments.
    public var argsCNI: JSONObject?
    public var rawPrevResult: JSONValue?

    /// Decodes stdin bytes: not JSON → 6; no usable name → 7.
    public init(bytes: [UInt8]) throws(CNIError) {
        let v: JSONValue
        do { v = try JSONValue.parse(bytes) } catch {
            throw CNIError(.decodingFailure, "error unmarshall network config: \(error)")
        }
        guard case .object = v else {
            throw CNIError(.decodingFailure, "error unmarshall network config: expected a JSON object")
        }
        try self.init(json: v, requireName: true)
    }

    public init(json: JSONValue, requireName: Bool = true) throws(CNIError) {
        // Type mismatches of well-known keys are decoding failures, as Go's Unmarshal reports them.
        let r = JSONReader(json, path: "", code: .decodingFailure)
        guard let obj = json.objectValue else {
            throw CNIError(.decodingFailure, "error unmarshall network config: expected a JSON object")
        }
        raw = obj
        let version = try r.string("cniVersion") ?? ""
        cniVersionString = version.isEmpty ? CNIVersion.implicit.rawValue : version
        name = try r.string("name") ?? ""
        type = try r.string("type") ?? ""
        var caps: [String: Bool] = [:]
        for e in try r.object("capabilities") ?? JSONObject() {
            guard let b = e.value.boolValue else { throw r.fail("capabilities.\(e.key)", "expected true or false") }
            caps[e.key] = b
        }
        capabilities = caps
        ipam = try r.object("ipam")
        dns = try DNS(reader: r.child("dns", json["dns"] ?? .null))
        runtimeConfig = try r.object("runtimeConfig") ?? JSONObject()
        argsCNI = try r.object("args")?["cni"]?.objectValue
        rawPrevResult = r.raw("prevResult")
        if requireName { try Names.validateNetworkName(name) }
    }

    /// The config's spec version, or code 1 naming what this suite supports.
    public func version(supported: [CNIVersion] = CNIVersion.allCases) throws(CNIError) -> CNIVersion {
        guard let v = CNIVersion(rawValue: cniVersionString), supported.contains(v) else {
            let list = supported.map { "\"\($0.rawValue)\"" }.joined(separator: " ")
            throw CNIError(.incompatibleVersion, "incompatible CNI versions",
                           details: "config is \"\(cniVersionString)\", plugin supports [\(list)]")
        }
        return v
    }

    /// `ipam.type`, when an ipam section names one.
    public var ipamType: String? {
        guard let t = ipam?["type"]?.stringValue, !t.isEmpty else { return nil }
        return t
    }

    /// The previous plugin's result, read in the config's version (`version.ParsePrevResult`).
    public func prevResult() throws(CNIError) -> CNIResult? {
        guard let raw = rawPrevResult else { return nil }
        let v = try version()
        do {
            return try CNIResult(json: raw, version: v)
        } catch {
            throw CNIError(.decodingFailure, "could not parse prevResult", details: error.description)
        }
    }
}

/// The GC input `cni.dev/valid-attachments`: attachments a runtime still uses.
public struct Attachment: Hashable, Sendable {
    public var containerID: String
    public var ifname: String
    public init(containerID: String, ifname: String) { (self.containerID, self.ifname) = (containerID, ifname) }

    public var json: JSONValue { ["containerID": .string(containerID), "ifname": .string(ifname)] }

    public static let validAttachmentsKey = "cni.dev/valid-attachments"
    /// The key older libcni wrote by mistake (cni#1101); still read.
    public static let legacyAttachmentsKey = "cni.dev/attachments"
}

extension NetConf {
    /// The attachments a GC request says are in use; code 7 when the list is malformed or absent.
    public func validAttachments() throws(CNIError) -> Set<Attachment> {
        let r = JSONReader(.object(raw), path: "")
        var list = try r.array(Attachment.validAttachmentsKey)
        if list == nil { list = try r.array(Attachment.legacyAttachmentsKey) }
        guard let list else {
            throw CNIError(.invalidNetworkConfig, "GC needs \(Attachment.validAttachmentsKey)")
        }
        var out = Set<Attachment>()
        for (i, v) in list.enumerated() {
            let a = r.child("\(Attachment.validAttachmentsKey)[\(i)]", v)
            try a.requireObject()
            out.insert(Attachment(containerID: try a.requiredString("containerID"), ifname: try a.requiredString("ifname")))
        }
        return out
    }
}
