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

    /// A directory a plugin writes under (host-local's and whereabouts' `dataDir`, multus's
    /// `cniDir`): no NUL, and no ".." component, so a config cannot point the store somewhere
    /// else than where it seems to (code 7, `key` names the setting).
    public static func validateDataDirectory(_ path: String, key: String) throws(CNIError) {
        if path.utf8.contains(0) || path.split(separator: "/").contains("..") {
            throw CNIError(.invalidNetworkConfig, "invalid \(key) \"\(path)\"", details: "no \"..\" component or NUL allowed")
        }
    }

    /// Interface names as the kernel takes them unchanged: non-empty, at most 15 bytes, not "." or
    /// "..", no '/', ':', NUL or white space (the reference's rules), and no '%' — the kernel reads
    /// a name with '%' as a template ("a%d" becomes "a0"), so the plugin would lose track of the
    /// link it made. Code 4 for CNI_IFNAME; configs naming a link (bridge, master, device) pass 7.
    public static func validateInterfaceName(_ name: String, code: CNIError.Code = .invalidEnvironment,
                                             what: String = "interface name", allowTemplate: Bool = false) throws(CNIError) {
        if name.isEmpty { throw CNIError(code, "\(what) is empty") }
        if name.utf8.count > 15 {
            throw CNIError(code, "\(what) is too long", details: "\(name): interface names are at most 15 bytes")
        }
        if name == "." || name == ".." { throw CNIError(code, "\(what) is . or ..") }
        if name.unicodeScalars.contains(where: { $0 == "/" || $0 == ":" || $0 == "\0" || $0.properties.isWhitespace }) {
            throw CNIError(code, "\(what) contains / or : or whitespace characters", details: name)
        }
        if !allowTemplate && name.utf8.contains(UInt8(ascii: "%")) {
            throw CNIError(code, "\(what) contains %", details: "\(name): the kernel would rename it from a template")
        }
    }
}
