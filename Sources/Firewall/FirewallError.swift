import CNI

/// A firewall command (nft, iptables) that could not run or refused the change: what we asked and
/// what the command said.
public struct FirewallError: Error, Sendable, CustomStringConvertible, CNIErrorConvertible {
    public let message: String
    public let details: String

    public init(_ message: String, details: String = "") { (self.message, self.details) = (message, details) }

    public var description: String { details.isEmpty ? message : "\(message): \(details)" }
    /// Code 101: the host's firewall refused or is not usable.
    public var cniError: CNIError { CNIError(.systemFailure, message, details: details) }
}
