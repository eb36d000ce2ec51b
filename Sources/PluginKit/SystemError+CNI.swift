import CNI
import LinuxSystem

extension SystemError: CNIErrorConvertible {
    public var cniError: CNIError { CNIError(.systemFailure, description) }
}
