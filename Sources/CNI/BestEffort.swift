/// The steps of a DEL or GC (STYLE habit 5): each runs even when an earlier one failed, and the
/// first failure is reported at the end with the others in its details.
public struct BestEffort {
    private var errors: [CNIError] = []

    public init() {}

    public mutating func run(_ step: () throws -> Void) {
        do { try step() } catch { errors.append(CNIError.from(error)) }
    }

    /// Throws the first failure (its code), the others appended to its details; nothing when all
    /// steps succeeded.
    public func finish() throws(CNIError) {
        guard var first = errors.first else { return }
        let others = errors.dropFirst().map(\.description)
        if !others.isEmpty {
            first.details = ([first.details].filter { !$0.isEmpty } + ["also: " + others.joined(separator: "; ")]).joined(separator: "; ")
        }
        throw first
    }
}
