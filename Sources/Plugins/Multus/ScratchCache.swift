import Basics
import CNI
import LinuxSystem

/// What one pod's ADD attached, kept in `<cniDir>/<containerID>` from before the first delegate
/// runs until every delegate's DEL succeeded: DEL and CHECK work from it without the API server,
/// the pod or its namespace (upstream leaks addresses when it cannot resolve the delegates:
/// multus#920, #1087). Written atomically; a file that cannot be read is an error, never a
/// silent success.
struct ScratchCache {
    static let kind = "swiftCNIMultusV1"
    let directory: String

    struct Entry: Equatable {
        var podNamespace: String
        var podName: String
        var podUID: String
        var infraContainerID: String = ""
        /// CNI_NETNS of the ADD (a GC's DEL of a stale attachment uses it while it exists).
        var netns: String = ""
        var delegates: [MultusDelegate]
    }

    func path(_ containerID: String) -> String { directory + "/" + containerID }

    func write(_ containerID: String, _ e: Entry) throws(CNIError) {
        var o = JSONObject()
        o["kind"] = .string(Self.kind)
        o["podNamespace"] = .string(e.podNamespace)
        o["podName"] = .string(e.podName)
        o["podUID"] = .string(e.podUID)
        o["infraContainerID"] = .string(e.infraContainerID)
        o["netns"] = .string(e.netns)
        o["delegates"] = .array(e.delegates.map(\.json))
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
            try FileSystem.writeAtomically(path(containerID), JSONValue.object(o).serialized(), mode: 0o600)
        } catch {
            throw CNIError(.ioFailure, "multus: cannot write the delegate cache \(path(containerID))", details: error.description)
        }
    }

    /// nil when there is none; an unreadable or corrupt file is an error (code 6).
    func read(_ containerID: String) throws(CNIError) -> Entry? {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path(containerID)) } catch {
            if error.isNotFound { return nil }
            throw CNIError(.ioFailure, "multus: cannot read the delegate cache \(path(containerID))", details: error.description)
        }
        let r = JSONReader((try? JSONValue.parse(bytes)) ?? .null, path: "cache", code: .decodingFailure)
        guard r.value.objectValue != nil, try r.string("kind") == Self.kind, let list = try r.array("delegates") else {
            throw CNIError(.decodingFailure, "multus: the delegate cache \(path(containerID)) is corrupt")
        }
        var delegates: [MultusDelegate] = []
        for d in list { delegates.append(try MultusDelegate(json: d)) }
        return Entry(podNamespace: try r.string("podNamespace") ?? "", podName: try r.string("podName") ?? "",
                     podUID: try r.string("podUID") ?? "", infraContainerID: try r.string("infraContainerID") ?? "",
                     netns: try r.string("netns") ?? "", delegates: delegates)
    }

    func remove(_ containerID: String) { try? FileSystem.remove(path(containerID)) }

    /// Seconds since the entry was last written (nil when it cannot be told).
    func age(_ containerID: String) -> Double? { FileSystem.age(path(containerID)) }

    /// The container IDs that have a cache (GC), leaving out the libcni result cache directory.
    func containerIDs() -> [String] {
        ((try? FileSystem.list(directory)) ?? []).filter { $0 != "results" && !$0.hasPrefix(".") && !$0.containsText(".tmp-") && Names.isValidName($0) }
    }
}
