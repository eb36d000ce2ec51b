import CNI
import PluginKit

/// passthru (multus's `passthru-cni`): the first plugin of multus's auxiliary chain. ADD answers
/// an empty result in the config's version, so the chain's plugins get a prevResult; every other
/// verb has nothing to do.
public struct PassthruPlugin: Plugin {
    public let about = "swift-cni passthru: an empty result for multus's auxiliary chain"

    public init() {}

    public func add(_ r: PluginRequest) throws -> CNIResult { CNIResult() }
    public func del(_ r: PluginRequest) throws {}
    public func check(_ r: PluginRequest) throws {}
}
