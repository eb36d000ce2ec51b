/// The error a plugin reports: `{"cniVersion","code","msg","details"}` on stdout with exit 1.
public struct CNIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var msg: String
    public var details: String

    public init(_ code: Code, _ msg: String, details: String = "") {
        self.init(code: code.rawValue, msg: msg, details: details)
    }

    public init(code: Int, msg: String, details: String = "") {
        (self.code, self.msg, self.details) = (code, msg, details)
    }

    /// Spec codes (SPEC.md "Error" table), the reference's 8 and 999, and ours from 100 on.
    public enum Code: Int, Sendable {
        case incompatibleVersion = 1
        case unsupportedField = 2
        case unknownContainer = 3
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodingFailure = 6
        case invalidNetworkConfig = 7
        case invalidNetNS = 8
        case tryAgainLater = 11
        case unavailable = 50
        case unavailableDegraded = 51
        /// A plugin this one delegated to (or ran in a chain) could not be run or answered garbage.
        case delegateFailure = 100
        /// An operating-system call failed.
        case systemFailure = 101
        /// IPAM: every address of a range is taken.
        case addressesExhausted = 110
        /// IPAM: a requested address cannot be had (taken, or the gateway).
        case addressUnavailable = 111
        /// The Kubernetes API refused a request (401/403/404/409/422…; unreachable is 11).
        case kubernetesAPI = 120
        /// Any other failure (the reference's catch-all).
        case internalFailure = 999
    }

    public var description: String { details.isEmpty ? msg : "\(msg): \(details)" }

    public func json(cniVersion: String) -> JSONValue {
        var o = JSONObject()
        o["cniVersion"] = .string(cniVersion)
        o["code"] = .int(code)
        o["msg"] = .string(msg)
        if !details.isEmpty { o["details"] = .string(details) }
        return .object(o)
    }

    /// Reads an error a plugin printed; nil when the value is not one.
    public init?(json: JSONValue) {
        guard let code = json["code"]?.intValue else { return nil }
        self.init(code: code, msg: json["msg"]?.stringValue ?? "", details: json["details"]?.stringValue ?? "")
    }
}

/// Errors of lower layers (SystemError, NetlinkError, NetNSError, FirewallError, IPAMError) that
/// carry their own CNI code and message. The skeleton converts them at its one error point.
public protocol CNIErrorConvertible: Error {
    var cniError: CNIError { get }
}

extension CNIError: CNIErrorConvertible {
    public var cniError: CNIError { self }
}

extension CNIError {
    /// Any error as a CNI error: typed ones keep their code, others become 999 with their text.
    public static func from(_ error: any Error) -> CNIError {
        if let e = error as? any CNIErrorConvertible { return e.cniError }
        return CNIError(.internalFailure, String(describing: error))
    }

    /// The code an error carries (999 for one that knows none).
    public static func code(of error: any Error) -> Int {
        (error as? any CNIErrorConvertible)?.cniError.code ?? Code.internalFailure.rawValue
    }

    public static func invalidConfig(_ msg: String, details: String = "") -> CNIError {
        CNIError(.invalidNetworkConfig, msg, details: details)
    }
}

/// Runs one step of a plugin and names it when it fails: an error of a lower layer becomes
/// `failed to <what>` with that error's own code and its text as details ("failed to set \"net1\"
/// up: …"); a CNIError, already said for the user, passes unchanged.
public func step<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) throws(CNIError) -> T {
    #if DEBUG
    if let n = FaultInjection.tick() {
        throw CNIError(.systemFailure, "failed to \(what())", details: "fault injected at step \(n) (SWCNI_FAULT)")
    }
    #endif
    do {
        return try body()
    } catch let e as CNIError {
        throw e
    } catch {
        throw CNIError(code: CNIError.code(of: error), msg: "failed to \(what())", details: String(describing: error))
    }
}
