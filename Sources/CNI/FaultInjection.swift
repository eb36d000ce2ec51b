#if DEBUG
import Synchronization

/// A test seam, in debug builds only: the Nth `step` of this process fails as if its system call
/// had (code 101), to prove that a failed ADD undoes every step before it (Integration's
/// FaultInjectionTests; the skeleton arms it from `SWCNI_FAULT=<plugin>:<n>`). Release builds
/// have no such code.
public enum FaultInjection {
    static let failAt = Atomic<Int>(0)
    static let steps = Atomic<Int>(0)

    public static func arm(atStep n: Int) {
        steps.store(0, ordering: .relaxed)
        failAt.store(n, ordering: .relaxed)
    }

    /// `body` with the fault state of its own (disarmed until something in it arms it), this
    /// process's put back after: a delegate run inside this process counts its own steps.
    public static func isolated<T>(_ body: () throws -> T) rethrows -> T {
        let (target, count) = (failAt.load(ordering: .relaxed), steps.load(ordering: .relaxed))
        failAt.store(0, ordering: .relaxed)
        defer {
            failAt.store(target, ordering: .relaxed)
            steps.store(count, ordering: .relaxed)
        }
        return try body()
    }

    /// Counts a step; its number when it is the one to fail.
    static func tick() -> Int? {
        let target = failAt.load(ordering: .relaxed)
        guard target > 0 else { return nil }
        let n = steps.add(1, ordering: .relaxed).newValue
        return n == target ? n : nil
    }
}
#endif
