/// A "major.minor.patch" version; missing parts are 0, as Go's `version.ParseVersion` reads them.
public struct SemanticVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let major: Int, minor: Int, patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        (self.major, self.minor, self.patch) = (major, minor, patch)
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        var n: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.allSatisfy(\.isASCII), let v = Int(p), v >= 0 else { return nil }
            n.append(v)
        }
        while n.count < 3 { n.append(0) }
        self.init(n[0], n[1], n[2])
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

/// The spec versions this suite speaks. Each has one result shape.
public enum CNIVersion: String, CaseIterable, Sendable, Comparable {
    case v0_1_0 = "0.1.0"
    case v0_2_0 = "0.2.0"
    case v0_3_0 = "0.3.0"
    case v0_3_1 = "0.3.1"
    case v0_4_0 = "0.4.0"
    case v1_0_0 = "1.0.0"
    case v1_1_0 = "1.1.0"

    public static let latest = CNIVersion.v1_1_0
    /// What a config without "cniVersion" means (the reference's ConfigDecoder).
    public static let implicit = CNIVersion.v0_1_0

    public enum ResultShape: Sendable {
        /// 0.1.0 / 0.2.0: `ip4` / `ip6`.
        case legacy
        /// 0.3.0 – 0.4.0: `interfaces`, `ips` with "version".
        case v04
        /// 1.0.0 / 1.1.0.
        case v1
    }

    public var resultShape: ResultShape {
        switch self {
        case .v0_1_0, .v0_2_0: return .legacy
        case .v0_3_0, .v0_3_1, .v0_4_0: return .v04
        case .v1_0_0, .v1_1_0: return .v1
        }
    }

    public var semantic: SemanticVersion { SemanticVersion(rawValue)! }

    /// More than one IP of a family in one result needs ≥ 0.3.0.
    public var supportsMultipleIPs: Bool { self >= .v0_3_0 }

    public static func < (a: Self, b: Self) -> Bool { a.semantic < b.semantic }
}
