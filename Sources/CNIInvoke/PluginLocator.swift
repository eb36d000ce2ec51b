import LinuxSystem

/// Finds a plugin executable by name in a search path (CNI_PATH split on ':').
public enum PluginLocator {
    public struct NotFound: Error, Sendable, CustomStringConvertible {
        public let name: String
        public let paths: [String]
        public var description: String {
            paths.isEmpty
                ? "no paths provided to search for plugin \"\(name)\""
                : "failed to find plugin \"\(name)\" in path \(paths)"
        }
    }

    public static func splitPath(_ cniPath: String) -> [String] {
        cniPath.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    public static func find(_ name: String, in paths: [String]) throws(NotFound) -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NotFound(name: name, paths: paths)
        }
        for dir in paths {
            let candidate = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            if FileSystem.isExecutableFile(candidate) { return candidate }
        }
        throw NotFound(name: name, paths: paths)
    }
}
