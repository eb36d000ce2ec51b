import CLibnl
import CNI

/// A failed netlink operation: what we tried, libnl's error code and text.
public struct NetlinkError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    /// libnl's NLE_* code (positive).
    public let code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = abs(code)
    }

    public var message: String { String(cString: nl_geterror(code)) }
    public var description: String { "\(operation): \(message)" }

    public var isNotFound: Bool { code == NLE_OBJ_NOTFOUND || code == NLE_NODEV }
    public var isExists: Bool { code == NLE_EXIST }
    /// The kernel lacks the netlink protocol itself (socket: EPROTONOSUPPORT, EAFNOSUPPORT).
    public var isProtocolMissing: Bool { code == NLE_PROTO_MISMATCH || code == NLE_AF_NOSUPPORT }
    /// What nfnetlink answers for a subsystem the kernel lacks (EINVAL, EOPNOTSUPP) — also what
    /// a malformed request gets, so a hint, not a proof.
    public var isUnsupportedHint: Bool { code == NLE_INVAL || code == NLE_OPNOTSUPP }

    /// Checks a libnl return value (negative = error).
    @discardableResult
    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(NetlinkError) -> Int32 {
        if rc < 0 { throw NetlinkError(operation(), code: rc) }
        return rc
    }
}

extension NetlinkError: CNIErrorConvertible {
    /// Code 101: the kernel refused (the step that failed names itself through `step`).
    public var cniError: CNIError { CNIError(.systemFailure, description) }
}
