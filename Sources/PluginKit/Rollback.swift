/// The undo steps of an ADD, run in reverse when a later step fails. Each step is registered
/// right after the step it undoes succeeds.
public final class Rollback {
    private struct Step {
        let name: String
        let undo: () throws -> Void
    }

    // A struct, not a tuple: tuple-typed arrays cost a runtime metadata demangle per process.
    private var steps: [Step] = []
    /// What failed while undoing (reported on stderr by the caller; the original error stands).
    public private(set) var failures: [String] = []

    public init() {}

    public func onFailure(_ name: String, _ undo: @escaping () throws -> Void) {
        steps.append(Step(name: name, undo: undo))
    }

    /// Runs every registered undo, newest first, even when some fail.
    public func unwind() {
        while let step = steps.popLast() {
            do { try step.undo() } catch { failures.append("\(step.name): \(error)") }
        }
    }

    /// Runs `body`; on a throw, unwinds and rethrows.
    public static func run<T>(_ body: (Rollback) throws -> T) throws -> T {
        let rb = Rollback()
        do {
            return try body(rb)
        } catch {
            rb.unwind()
            throw error
        }
    }
}
