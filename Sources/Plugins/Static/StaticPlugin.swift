import CNI
import PluginKit

/// The static IPAM plugin: the addresses the config (or the runtime) names, nothing stored.
public struct StaticPlugin: Plugin {
    public let about = "swift-cni static: fixed IP addresses from the configuration"

    public init() {}

    func config(_ r: PluginRequest) throws -> StaticConfig {
        try StaticConfig(r.config, args: r.cniArgs(known: StaticConfig.argsKeys), version: r.version)
    }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let c = try config(r)
        return CNIResult(ips: c.addresses.map { CNIResult.IPConfig(address: $0.address, gateway: $0.gateway) },
                         routes: c.routes, dns: c.dns)
    }

    /// Nothing was allocated, so nothing to release.
    public func del(_ r: PluginRequest) throws {}

    /// Every configured address is in prevResult, with the configured gateway when one is set.
    public func check(_ r: PluginRequest) throws {
        let c = try config(r)
        guard let prev = try r.config.prevResult() else {
            throw CNIError.invalidConfig("Required prevResult missing")
        }
        for a in c.addresses {
            guard let found = prev.ips.first(where: { $0.address.address == a.address.address }) else {
                throw CNIError.invalidConfig("static: Failed to find addr \(a.address) on interface \(r.ifName)")
            }
            if let gw = a.gateway, found.gateway != gw {
                throw CNIError.invalidConfig("static: Failed to match addr \(a.address.address) on interface \(r.ifName)",
                                             details: "gateway is \(found.gateway.map { "\($0)" } ?? "unset"), configured \(gw)")
            }
        }
    }
}
