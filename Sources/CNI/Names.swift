/// The reference's validation of names (`pkg/utils`): network names and container IDs match
/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`; interface names follow the kernel's rules.
public enum Names {
    static func isNameChar(_ c: UInt8, first: Bool) -> Bool {
        switch c {
        case 48...57, 65...90, 97...122: return true
        case UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"): return !first
        default: return false
        }
    }

    public static func isValidName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, isNameChar(f, first: true) else { return false }
        return u.dropFirst().allSatisfy { isNameChar($0, first: false) }
    }

    public static func validateContainerID(_ id: String) throws(CNIError) {
        if id.isEmpty { throw CNIError(.unknownContainer, "missing containerID") }
        if !isValidName(id) { throw CNIError(.invalidEnvironment, "invalid characters in containerID", details: id) }
    }

    public static func validateNetworkName(_ name: String) throws(CNIError) {
        if name.isEmpty { throw CNIError(.invalidNetworkConfig, "missing network name") }
        if !isValidName(name) {
            throw CNIError(.invalidNetworkConfig, "invalid characters found in network name", details: name)
        }
    }

    /// Interface names: non-empty, at most 15 bytes, not "." or "..", no '/', ':' or white space.
    public static func validateInterfaceName(_ name: String) throws(CNIError) {
        if name.isEmpty { throw CNIError(.invalidEnvironment, "interface name is empty") }
        if name.utf8.count > 15 {
            throw CNIError(.invalidEnvironment, "interface name is too long",
                           details: "interface name should be less than 16 characters")
        }
        if name == "." || name == ".." { throw CNIError(.invalidEnvironment, "interface name is . or ..") }
        if name.unicodeScalars.contains(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }) {
            throw CNIError(.invalidEnvironment, "interface name contains / or : or whitespace characters")
        }
    }
}
