import CNI

/// The CNI verbs.
public enum Command: String, Sendable, CaseIterable {
    case add = "ADD"
    case del = "DEL"
    case check = "CHECK"
    case status = "STATUS"
    case gc = "GC"
    case version = "VERSION"

    /// Parses CNI_COMMAND with a plain switch (the synthesized init(rawValue:) builds an array
    /// of the raw values on first use, paid at every plugin start).
    public static func parse(_ text: String) -> Command? {
        switch text {
        case "ADD": return .add
        case "DEL": return .del
        case "CHECK": return .check
        case "STATUS": return .status
        case "GC": return .gc
        case "VERSION": return .version
        default: return nil
        }
    }

    /// The spec version a verb first appeared in.
    public var minimumVersion: CNIVersion? {
        switch self {
        case .check: return .v0_4_0
        case .status, .gc: return .v1_1_0
        default: return nil
        }
    }
}

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
        case .containerID, .ifName: return [.add, .check, .del].contains(command)
        case .netns: return [.add, .check].contains(command)
        case .args: return false
        case .path: return command != .version
        }
    }
}
