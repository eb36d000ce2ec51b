import CNI

/// The undo steps of an ADD, run in reverse when a later step fails. Each step is registered
/// right after the step it undoes succeeds.
public final class Rollback {
    private struct Step {
        let name: String
        let undo: () throws -> Void
    }

    // A struct, not a tuple: tuple-typed arrays cost a runtime metadata demangle per process.
    private var steps: [Step] = []
    /// What failed while undoing, "<step>: <error>". `run` hands them on in an `UnwoundError`,
    /// which the skeleton reports on stderr; the original error stays the answer.
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

    /// Runs `body`; on a throw, unwinds and rethrows — wrapped in `UnwoundError` when an undo
    /// step failed too, so that what was left behind is not silently dropped.
    public static func run<T>(_ body: (Rollback) throws -> T) throws -> T {
        let rb = Rollback()
        do {
            return try body(rb)
        } catch {
            rb.unwind()
            if rb.failures.isEmpty { throw error }
            throw UnwoundError(error: error, undoFailures: rb.failures)
        }
    }
}

/// An error after which not every undo step succeeded: the error is the answer (its code and
/// message), the failed undo steps go to stderr.
public struct UnwoundError: Error, CNIErrorConvertible, CustomStringConvertible {
    public let error: any Error
    public let undoFailures: [String]

    public var cniError: CNIError { CNIError.from(error) }
    public var description: String { String(describing: error) }

    /// The innermost error and every undo failure on the way to it.
    public static func unwrap(_ error: any Error) -> (error: any Error, undoFailures: [String]) {
        guard let u = error as? UnwoundError else { return (error, []) }
        let inner = unwrap(u.error)
        return (inner.error, inner.undoFailures + u.undoFailures)
    }
}
