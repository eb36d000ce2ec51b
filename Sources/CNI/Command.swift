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

