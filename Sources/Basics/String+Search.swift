/// Finding text in text, byte by byte. The standard library's `contains(_:)`, `firstRange(of:)`,
/// `replacing(_:with:)` and `split(separator:)` for strings live in _StringProcessing, whose use
/// links it and _RegexParser into the executable — 1.1 MB of code and ~420 protocol-conformance
/// records, which every first-time dynamic cast of a process scans one by one. Here strings are
/// compared as their UTF-8 bytes (no Unicode normalization): names, paths, messages and rules
/// are compared as written.
extension StringProtocol {
    /// The range of the first occurrence of `part`, if any (an empty `part` is found at the start).
    /// Its bounds are on Unicode scalar boundaries, not always on Character ones ("cafe" is found
    /// in "cafe\u{301}").
    public func firstRange(ofText part: some StringProtocol) -> Range<Index>? {
        let hay = utf8, needle = Array(part.utf8)
        guard let first = needle.first else { return startIndex..<startIndex }
        var i = hay.startIndex
        while i != hay.endIndex {
            if hay[i] == first {
                var h = hay.index(after: i), n = 1
                while n < needle.count, h != hay.endIndex, hay[h] == needle[n] { h = hay.index(after: h); n += 1 }
                if n == needle.count { return i..<h }
            }
            i = hay.index(after: i)
        }
        return nil
    }

    /// Whether `part` occurs in this text.
    public func containsText(_ part: some StringProtocol) -> Bool { firstRange(ofText: part) != nil }

    /// Every occurrence of `old` replaced by `new`, left to right (`old` not empty).
    public func replacingText(_ old: some StringProtocol, with new: some StringProtocol) -> String {
        var out = "", rest = self[...]
        while let r = rest.firstRange(ofText: old), !r.isEmpty {
            out += rest[..<r.lowerBound]
            out += new
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}
