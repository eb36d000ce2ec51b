extension StringProtocol {
    /// Without leading and trailing characters from `set` (Characters: "\r\n" is one).
    public func trimming(_ set: String) -> String {
        let chars = set  // String.contains(Character): no Set<Character> metadata at start-up
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }

    /// Without leading and trailing white space, as Go's strings.TrimSpace (ASCII).
    public var trimmingWhitespace: String { trimming(" \t\n\r\r\n\u{0B}\u{0C}") }
}

extension Array where Element == String {
    /// The strings with `separator` between them. Written out: the stdlib's generic
    /// `joined(separator:)` runs unspecialised and costs a protocol-conformance lookup at its first
    /// use in a process (a scan of every conformance record: ~0.3 M instructions in a large binary).
    public func joinedWith(_ separator: String) -> String {
        var out = ""
        for (i, s) in enumerated() {
            if i > 0 { out += separator }
            out += s
        }
        return out
    }
}
