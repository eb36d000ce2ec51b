import CNI

/// A Kubernetes API call that did not succeed: the HTTP status the server answered (401, 403,
/// 404, 409, 422, 5xx…) with its Status message, or a transport failure (no answer at all).
public struct KubeError: Error, Sendable, CustomStringConvertible, CNIErrorConvertible {
    public enum Kind: Sendable, Equatable {
        case status(Int)
        /// Connection refused or reset, timeout: the server did not answer.
        case transport
        /// The TLS handshake failed (an untrusted certificate): not worth retrying.
        case tls
        /// The kubeconfig or service account cannot be used.
        case configuration
        /// The server answered something that is not the object we asked for.
        case invalidResponse
    }

    public let kind: Kind
    public let operation: String
    public let message: String

    public init(_ kind: Kind, _ operation: String, _ message: String) {
        (self.kind, self.operation, self.message) = (kind, operation, message)
    }

    public var description: String { "\(operation): \(message)" }

    public var isNotFound: Bool { kind == .status(404) }
    public var isConflict: Bool { kind == .status(409) }
    /// Worth another try after a pause (the API server restarting or overloaded).
    public var isTransient: Bool {
        switch kind {
        case .transport: return true
        case .status(let s): return s == 500 || s == 503 || s == 504 || s == 429
        default: return false
        }
    }

    /// An API server that does not answer is "try again later" (11); a bad kubeconfig is a
    /// config error (7); anything else the server refused is ours (120).
    public var cniError: CNIError {
        switch kind {
        case .transport: return CNIError(.tryAgainLater, "Kubernetes API unreachable", details: description)
        case .tls: return CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: "Kubernetes API: TLS handshake failed", details: description)
        case .configuration: return CNIError(.invalidNetworkConfig, "Kubernetes client configuration", details: description)
        case .status(let s) where s == 500 || s == 503 || s == 504 || s == 429:
            return CNIError(.tryAgainLater, "Kubernetes API unavailable", details: description)
        default: return CNIError(code: CNIError.Code.kubernetesAPI.rawValue, msg: "Kubernetes API error", details: description)
        }
    }
}
