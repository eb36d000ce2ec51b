import CNI
import LinuxSystem

/// What can go wrong in address management, with its CNI code.
public enum IPAMError: Error, Sendable, Equatable, CustomStringConvertible, CNIErrorConvertible {
    /// A range or range set in the config is unusable (code 7).
    case invalidRange(String)
    /// Some other config problem (code 7).
    case invalidConfig(String)
    /// Every address of a range set is taken (code 110).
    case exhausted(String)
    /// A specific address was asked for and cannot be had (code 111).
    case unavailable(String)
    /// The store cannot be used (code 101).
    case store(SystemError)

    public var description: String {
        switch self {
        case .invalidRange(let m), .invalidConfig(let m), .exhausted(let m), .unavailable(let m): return m
        case .store(let e): return e.description
        }
    }

    public var cniError: CNIError {
        switch self {
        case .invalidRange(let m), .invalidConfig(let m): return CNIError(.invalidNetworkConfig, m)
        case .exhausted(let m): return CNIError(code: CNIError.Code.addressesExhausted.rawValue, msg: m)
        case .unavailable(let m): return CNIError(code: CNIError.Code.addressUnavailable.rawValue, msg: m)
        case .store(let e): return CNIError(.systemFailure, e.description)
        }
    }
}
