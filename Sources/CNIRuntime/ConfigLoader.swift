import CNI
import LinuxSystem

/// Finds network configurations in a directory (NETCONFPATH, default /etc/cni/net.d) as libcni:
/// `*.conflist` first, then `*.conf` / `*.json`, each group in sorted file-name order.
public enum ConfigLoader {
    public static let defaultDirectory = "/etc/cni/net.d"

    /// Files in `dir` with one of `extensions`, sorted; a missing directory has none.
    public static func files(in dir: String, extensions: [String]) -> [String] {
        guard let names = try? FileSystem.list(dir) else { return [] }
        return names.filter { n in extensions.contains { n.hasSuffix("." + $0) } }
            .sorted()
            .map { dir.hasSuffix("/") ? dir + $0 : dir + "/" + $0 }
    }

    /// The list named `name`: from a conflist, else from a single conf.
    public static func loadList(directory dir: String, name: String) throws(CNIError) -> NetworkConfigList {
        for file in files(in: dir, extensions: ["conflist"]) {
            let list = try NetworkConfigList(conflist: read(file), source: file)
            if list.name == name { return list }
        }
        for file in files(in: dir, extensions: ["conf", "json"]) {
            let bytes = try read(file)
            // A .conf of another network that does not even parse is skipped, as libcni's
            // name lookup only needs the name.
            guard let v = try? JSONValue.parse(bytes), v["name"]?.stringValue == name else { continue }
            return try NetworkConfigList(conf: bytes, source: file)
        }
        throw CNIError(.invalidNetworkConfig, "no net configuration with name \"\(name)\" in \(dir)")
    }

    static func read(_ file: String) throws(CNIError) -> [UInt8] {
        do { return try FileSystem.read(file) } catch {
            throw CNIError(.ioFailure, "error reading \(file)", details: error.description)
        }
    }
}
