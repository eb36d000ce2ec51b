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
        case .containerID, .ifName: return [.add, .check, .del].contains(command)
        case .netns: return [.add, .check].contains(command)
        case .args: return false
        case .path: return command != .version
        }
    }
}
