import Basics
import CNI
import LinuxSystem

/// libcni's result cache, byte-compatible so that libcni-based tools and ours can each DEL
/// what the other added: `<dir>/results/<network>-<containerID>-<ifname>`, a `cniCacheV1` JSON
/// object, file 0600 in a 0700 directory.
public struct ResultCache: Sendable {
    public static let defaultDirectory = "/var/lib/cni"
    public static let kind = "cniCacheV1"

    public let directory: String
    public init(directory: String = ResultCache.defaultDirectory) { self.directory = directory }

    public struct Entry: Sendable {
        public var containerID: String
        public var ifName: String
        public var networkName: String
        public var netns: String
        /// The network configuration list's bytes (written for libcni; we never read them back:
        /// DEL and GC use the configuration they are given, as libcni does).
        public var config: [UInt8]
        public var cniArgs: CNIArgs
        public var capabilityArgs: JSONObject
        /// The final ADD result as the last plugin printed it (re-rendered in its own version).
        public var result: JSONValue?

        public init(containerID: String, ifName: String, networkName: String, netns: String, config: [UInt8],
                    cniArgs: CNIArgs, capabilityArgs: JSONObject, result: JSONValue?) {
            (self.containerID, self.ifName, self.networkName, self.netns) = (containerID, ifName, networkName, netns)
            (self.config, self.cniArgs, self.capabilityArgs, self.result) = (config, cniArgs, capabilityArgs, result)
        }

        public var runtimeConf: RuntimeConf {
            RuntimeConf(containerID: containerID, netns: netns, ifName: ifName, args: cniArgs,
                        capabilityArgs: capabilityArgs)
        }
    }

    var resultsDirectory: String { directory + "/results" }

    public func path(network: String, containerID: String, ifName: String) -> String {
        "\(resultsDirectory)/\(network)-\(containerID)-\(ifName)"
    }

    public func write(_ e: Entry) throws(SystemError) {
        var o = JSONObject()
        o["kind"] = .string(Self.kind)
        o["containerId"] = .string(e.containerID)
        o["config"] = .string(Base64.encode(e.config))
        o["ifName"] = .string(e.ifName)
        o["networkName"] = .string(e.networkName)
        if !e.netns.isEmpty { o["netns"] = .string(e.netns) }
        if !e.cniArgs.isEmpty { o["cniArgs"] = .array(e.cniArgs.pairs.map { [.string($0.key), .string($0.value)] }) }
        if !e.capabilityArgs.isEmpty { o["capabilityArgs"] = .object(e.capabilityArgs) }
        if let r = e.result { o["result"] = r }
        try FileSystem.makeDirectories(resultsDirectory, mode: 0o700)
        // Atomic (never a partial file), not fsynced: libcni does not sync it either, and an ADD
        // pays ~0.25 ms for an fsync here. multus's own delegate cache is the durable record.
        try FileSystem.writeAtomically(path(network: e.networkName, containerID: e.containerID, ifName: e.ifName),
                                       JSONValue.object(o).serialized(keys: .sortedBelowTop), mode: 0o600, durable: false)
    }

    /// The entry, or nil when there is none or it cannot be read (libcni ignores read errors).
    /// A file that is not `cniCacheV1` is the legacy format: the bare result.
    public func read(network: String, containerID: String, ifName: String) -> Entry? {
        guard let bytes = try? FileSystem.read(path(network: network, containerID: containerID, ifName: ifName)),
              let json = try? JSONValue.parse(bytes) else { return nil }
        guard json["kind"]?.stringValue == Self.kind else {
            return Entry(containerID: containerID, ifName: ifName, networkName: network, netns: "", config: [],
                         cniArgs: CNIArgs(), capabilityArgs: JSONObject(), result: json)
        }
        return Self.entry(from: json)
    }

    static func entry(from json: JSONValue) -> Entry? {
        guard json["kind"]?.stringValue == kind,
              let cid = json["containerId"]?.stringValue, let ifn = json["ifName"]?.stringValue,
              let net = json["networkName"]?.stringValue else { return nil }
        var args: [CNIArgs.Pair] = []
        for pair in json["cniArgs"]?.arrayValue ?? [] {
            if let a = pair.arrayValue, a.count == 2, let k = a[0].stringValue, let v = a[1].stringValue { args.append(.init(k, v)) }
        }
        let result = json["result"].flatMap { $0.isNull ? nil : $0 }
        return Entry(containerID: cid, ifName: ifn, networkName: net, netns: json["netns"]?.stringValue ?? "",
                     config: [], cniArgs: CNIArgs(pairs: args),
                     capabilityArgs: json["capabilityArgs"]?.objectValue ?? JSONObject(), result: result)
    }

    public func delete(network: String, containerID: String, ifName: String) {
        try? FileSystem.remove(path(network: network, containerID: containerID, ifName: ifName))
    }

    /// Every readable cniCacheV1 entry of one network (for GC).
    public func entries(network: String) -> [Entry] {
        guard let names = try? FileSystem.list(resultsDirectory) else { return [] }
        return names.sorted().filter { $0.hasPrefix(network + "-") }.compactMap { name in
            guard let bytes = try? FileSystem.read(resultsDirectory + "/" + name),
                  let json = try? JSONValue.parse(bytes), let e = Self.entry(from: json),
                  e.networkName == network else { return nil }
            return e
        }
    }
}
