/// `CNI_ARGS` ("K=V;K2=V2"), parsed as the reference's `types.LoadArgs`: every pair splits on
/// '=' into exactly two parts; keys are case-sensitive; unknown keys are an error unless
/// `IgnoreUnknown` is 1/true (any case).
public struct CNIArgs: Sendable, Equatable {
    /// One `K=V`. (A struct, not a tuple: tuple-typed arrays cost a metadata demangle per process.)
    public struct Pair: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { (self.key, self.value) = (key, value) }
    }

    public private(set) var pairs: [Pair]

    public init(pairs: [Pair] = []) { self.pairs = pairs }

    public init(parsing text: String) throws(CNIError) {
        pairs = []
        if text.isEmpty { return }
        for pair in text.split(separator: ";", omittingEmptySubsequences: false) {
            let kv = pair.split(separator: "=", omittingEmptySubsequences: false)
            guard kv.count == 2 else {
                throw CNIError(.invalidEnvironment, "ARGS: invalid pair \"\(pair)\"")
            }
            pairs.append(Pair(String(kv[0]), String(kv[1])))
        }
    }

    public var isEmpty: Bool { pairs.isEmpty }

    /// The last value given for a key.
    public subscript(key: String) -> String? { pairs.last(where: { $0.key == key })?.value }

    public func ignoreUnknown() throws(CNIError) -> Bool {
        guard let v = self["IgnoreUnknown"] else { return false }
        switch v.lowercased() {
        case "1", "true": return true
        case "0", "false": return false
        default:
            throw CNIError(.invalidEnvironment,
                           "ARGS: error parsing value of pair \"IgnoreUnknown=\(v)\": boolean unmarshal error: invalid input \(v.lowercased())")
        }
    }

    /// Fails on keys outside `known` (IgnoreUnknown is always known) unless IgnoreUnknown is set.
    public func validate(known: [String]) throws(CNIError) {
        let ignore = try ignoreUnknown()
        let unknown = pairs.filter { $0.key != "IgnoreUnknown" && !known.contains($0.key) }
        if !unknown.isEmpty && !ignore {
            let list = unknown.map { "\"\($0.key)=\($0.value)\"" }.joined(separator: " ")
            throw CNIError(.invalidEnvironment, "ARGS: unknown args [\(list)]")
        }
    }

    /// "K=V;K2=V2", as libcni builds CNI_ARGS from a runtime's pairs. (Built by hand: the generic
    /// `joined(separator:)` costs a protocol-conformance lookup at first use in every process.)
    public var encoded: String {
        var out = ""
        for (i, p) in pairs.enumerated() {
            if i > 0 { out += ";" }
            out += p.key + "=" + p.value
        }
        return out
    }
}
