import CNI

/// The environment variables of the protocol, in the order the reference reports them missing,
/// with the verbs that require each (the reference skeleton's table).
enum ProtocolVariable: String, CaseIterable {
    case command = "CNI_COMMAND"
    case containerID = "CNI_CONTAINERID"
    case netns = "CNI_NETNS"
    case ifName = "CNI_IFNAME"
    case args = "CNI_ARGS"
    case path = "CNI_PATH"

    func isRequired(for command: Command?) -> Bool {
        guard let command else { return self == .command }
        switch self {
        case .command: return true
        case .containerID, .ifName: return command.namesAnAttachment
        case .netns: return command == .add || command == .check
        case .args: return false
        case .path: return command != .version
        }
    }

    /// The names of the variables `command` requires that `env` lacks, in the reference's order
    /// (no array is built when none is missing: this runs at every plugin start).
    static func missing(for command: Command?, in env: [String: String]) -> [String] {
        var out: [String] = []
        for v in allCases where v.isRequired(for: command) && (env[v.rawValue] ?? "").isEmpty { out.append(v.rawValue) }
        return out
    }
}

extension Command {
    /// ADD, CHECK and DEL are about one attachment (container ID + interface).
    var namesAnAttachment: Bool { self == .add || self == .check || self == .del }
}
