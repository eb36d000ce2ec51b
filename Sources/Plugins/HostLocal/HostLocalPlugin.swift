import CNI
import IPAM
import IPAddressing
import PluginKit

/// The host-local IPAM plugin: addresses from range sets, recorded in a directory per network
/// that the Go reference can share. One lock is held for a whole ADD (all range sets), so an
/// ADD either gets an address from every set or leaves nothing behind.
public struct HostLocalPlugin: Plugin {
    public let about = "swift-cni host-local: IP address management from local range sets"

    public init() {}

    func store(_ conf: NetConf) throws -> DiskStore {
        let loc = try HostLocalConfig.storeLocation(conf)
        return try DiskStore(dataDir: loc.dataDir, network: loc.name)
    }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let config = try HostLocalConfig(r.config, args: r.cniArgs(known: HostLocalConfig.argsKeys), version: r.version)
        var result = CNIResult(routes: config.routes)
        if let path = config.resolvConf { result.dns = try ResolvConf.load(path) }
        let store = try store(r.config)
        result.ips = try store.withLock {
            try Rollback.run { rollback in
                var ips: [CNIResult.IPConfig] = []
                for (index, set) in config.rangeSets.enumerated() {
                    let a = try Allocator(rangeSet: set, rangeID: index)
                        .allocate(in: store, containerID: r.containerID, ifName: r.ifName, requested: config.requested(for: index))
                    rollback.onFailure("release \(a.address.address)") { try store.release(a.address.address) }
                    ips.append(CNIResult.IPConfig(address: a.address, gateway: a.gateway))
                }
                return ips
            }
        }
        return result
    }

    /// Releases everything the attachment holds; nothing held is fine. Only the store's location
    /// is read from the config, so a DEL still releases when the ranges were since broken.
    public func del(_ r: PluginRequest) throws {
        _ = try CNIArgs(parsing: r.rawArgs)
        let store = try store(r.config)
        _ = try store.withLock { try store.releaseAll(containerID: r.containerID, ifName: r.ifName) }
    }

    /// Every range set holds an address of the attachment; the addresses in prevResult (if any)
    /// are among them.
    public func check(_ r: PluginRequest) throws {
        let config = try HostLocalConfig(r.config, args: r.cniArgs(known: HostLocalConfig.argsKeys), version: r.version)
        let store = try store(r.config)
        let held = try store.withLock { try store.reservations() }
            .filter { $0.owner.matches(containerID: r.containerID, ifName: r.ifName) }.map(\.ip)
        for (i, set) in config.rangeSets.enumerated() where !held.contains(where: set.contains) {
            throw CNIError(.invalidNetworkConfig,
                           "host-local: Failed to find address added by container \(r.containerID)",
                           details: "no address of range set \(i) (\(set)) is held by \(r.containerID)/\(r.ifName)")
        }
        for ip in try r.config.prevResult()?.ips ?? [] where config.rangeSets.contains(where: { $0.contains(ip.address.address) }) {
            if !held.contains(ip.address.address) {
                throw CNIError(.invalidNetworkConfig, "host-local: \(ip.address.address) is not held by container \(r.containerID)")
            }
        }
    }

    /// Ready when the store is usable and every range set has a free address.
    public func status(_ r: PluginRequest) throws {
        let config: HostLocalConfig
        do {
            config = try HostLocalConfig(r.config, args: CNIArgs(), version: r.version)
        } catch {
            throw CNIError(.unavailable, "host-local: invalid configuration", details: error.description)
        }
        let reservations: [Reservation]
        do {
            let store = try store(r.config)
            reservations = try store.withLock { try store.reservations() }
        } catch {
            throw CNIError(.unavailable, "host-local: the data directory is not usable", details: "\(error)")
        }
        for (i, set) in config.rangeSets.enumerated() {
            let used = reservations.filter { r in set.ranges.contains { $0.contains(r.ip) && r.ip != $0.gateway } }.count
            if UInt128(used) >= set.capacity {
                throw CNIError(.unavailable, "host-local: no IP addresses available in range set \(i): \(set)")
            }
        }
    }

    /// Releases every reservation whose attachment is not in `cni.dev/valid-attachments`.
    public func gc(_ r: PluginRequest) throws {
        let valid = try r.config.validAttachments()
        let store = try store(r.config)
        _ = try store.withLock {
            try store.releaseAllExcept(valid)
        }
    }
}
