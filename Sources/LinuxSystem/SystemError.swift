import CNI
import Glibc

/// A failed system call: which call, on what, and the errno.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public let subject: String

    public init(_ call: String, errno: Int32 = Glibc.errno, subject: String = "") {
        (self.call, self.errno, self.subject) = (call, errno, subject)
    }

    public var message: String { String(cString: strerror(errno)) }

    public var description: String {
        subject.isEmpty ? "\(call): \(message)" : "\(call) \(subject): \(message)"
    }

    public var isNotFound: Bool { errno == ENOENT }
}

extension SystemError: CNIErrorConvertible {
    /// Code 101: the operating system refused (the step that failed names itself through `step`).
    public var cniError: CNIError { CNIError(.systemFailure, description) }
}

/// Runs a system call, retrying on EINTR; throws SystemError on -1.
@discardableResult
public func retryingEINTR<T: BinaryInteger>(_ call: String, subject: String = "", _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        if errno == EINTR { continue }
        throw SystemError(call, subject: subject)
    }
}
