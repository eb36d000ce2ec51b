import CNI
import Glibc
import IPAM
import IPAddressing
import LinuxSystem
import PluginKit

/// The whereabouts IPAM plugin: one address per range from a pool shared by the whole cluster
/// (Kubernetes or etcd datastore) or by this node (the embedded file store).
public struct WhereaboutsPlugin: Plugin {
    public let about = "swift-cni whereabouts: cluster-wide IP address management"
    /// Where to look for the flat file after `configuration_path` (tests pass their own).
    package let flatFiles: [String]
    /// Makes the etcd or Kubernetes datastore (WhereaboutsCluster's; the per-pod executable hands
    /// over to the cluster executable instead, so a file-store config never links a client).
    let clusterStore: ClusterStoreMaker

    public typealias ClusterStoreMaker = @Sendable (WhereaboutsConfig, PluginRequest) throws -> any WhereaboutsStore

    /// whereabouts in the per-pod executable: the file store here; an etcd or Kubernetes
    /// datastore is handed over to `swift-cni-full` before anything is done.
    public static func perPod() -> WhereaboutsPlugin {
        WhereaboutsPlugin { c, r in try Handoff.toFull(stdin: r.stdin, why: "whereabouts with the \(c.datastore.name) datastore") }
    }

    public init(flatFiles: [String] = WhereaboutsConfig.flatFilePaths, clusterStore: @escaping ClusterStoreMaker) {
        (self.flatFiles, self.clusterStore) = (flatFiles, clusterStore)
    }

    func config(_ r: PluginRequest) throws -> WhereaboutsConfig {
        try WhereaboutsConfig(r.config, args: r.cniArgs(known: WhereaboutsConfig.argsKeys), version: r.version, flatFiles: flatFiles)
    }

    /// The datastore of the config: the Kubernetes client is made only for that datastore.
    func store(_ c: WhereaboutsConfig, _ r: PluginRequest) throws -> any WhereaboutsStore {
        switch c.datastore {
        case .file:
            return try FileStore(dataDir: c.dataDir)
        case .kubernetes, .etcd:
            return try clusterStore(c, r)
        }
    }

    package func pools(_ c: WhereaboutsConfig) -> [PoolRef] {
        c.ranges.map { PoolRef(range: $0, networkName: c.networkName, overlapping: c.overlappingRanges) }
    }

    func log(_ c: WhereaboutsConfig) -> PluginLog { PluginLog(level: c.logLevel ?? "", file: c.logFile) }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let c = try config(r)
        let log = log(c)
        let store = try store(c, r)
        let owner = IPAllocation(containerID: r.containerID, podRef: c.podRef, ifName: r.ifName, created: Int64(time(nil)))
        let journal = c.datastore == .file ? nil : try AttachmentJournal(dataDir: c.dataDir, network: c.name)
        var result = CNIResult(routes: c.routes, dns: c.dns)
        do {
            result.ips = try Rollback.run { rollback in
                var ips: [CNIResult.IPConfig] = []
                try journal?.record(r.attachment, podRef: c.podRef)
                rollback.onFailure("forget \(r.containerID)/\(r.ifName)") { try journal?.forget(r.attachment) }
                for pool in pools(c) {
                    let ip = try step("allocate in \(pool.range.cidr)") { try store.allocate(owner, in: pool) }
                    rollback.onFailure("release \(ip)") {
                        _ = try store.release(containerID: r.containerID, ifName: r.ifName, podRef: c.podRef, in: pool)
                    }
                    log.verbose("ADD \(r.containerID)/\(r.ifName) pod \(c.podRef): \(ip) from \(pool.name)")
                    let gw = c.gateway.flatMap { pool.range.subnet.contains($0) ? $0 : nil }
                    ips.append(CNIResult.IPConfig(address: IPPrefix(address: ip, length: pool.range.subnet.length)!, gateway: gw))
                }
                return ips
            }
        } catch {
            log.error("ADD \(r.containerID)/\(r.ifName) failed: \(error)")
            throw error
        }
        for a in c.addresses { result.ips.append(CNIResult.IPConfig(address: a.address, gateway: a.gateway)) }
        return result
    }

    /// Releases the attachment's address in every range — not only up to the first range that
    /// holds none (upstream PR #738) — and succeeds when nothing is held. Every range is tried
    /// even when one fails; the first failure is reported after.
    public func del(_ r: PluginRequest) throws {
        let c = try config(r)
        let store = try store(c, r)
        let log = log(c)
        var failure: (any Error)?
        for pool in pools(c) {
            do {
                let released = try store.release(containerID: r.containerID, ifName: r.ifName, podRef: c.podRef, in: pool)
                if !released.isEmpty { log.verbose("DEL \(r.containerID)/\(r.ifName): released \(released) from \(pool.name)") }
            } catch {
                log.error("DEL \(r.containerID)/\(r.ifName) in \(pool.name): \(error)")
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        if c.datastore != .file { try AttachmentJournal(dataDir: c.dataDir, network: c.name).forget(r.attachment) }
    }

    /// Every range holds an address for this container and interface (upstream: not implemented),
    /// and the addresses of prevResult in these ranges are those.
    public func check(_ r: PluginRequest) throws {
        let c = try config(r)
        let store = try store(c, r)
        var held: [IPAddress] = []
        for pool in pools(c) {
            let mine = try store.allocations(in: pool).filter { $0.1.belongs(toContainer: r.containerID, ifName: r.ifName) }
            guard !mine.isEmpty else {
                throw CNIError(.invalidNetworkConfig, "whereabouts: no address of \(pool.range.cidr) is held by \(r.containerID)/\(r.ifName)")
            }
            held += mine.map(\.0)
        }
        for ip in try r.config.prevResult()?.ips ?? [] where c.ranges.contains(where: { $0.subnet.contains(ip.address.address) }) {
            if !held.contains(ip.address.address) {
                throw CNIError(.invalidNetworkConfig, "whereabouts: \(ip.address.address) is not held by \(r.containerID)/\(r.ifName)")
            }
        }
    }

    /// 50 when the datastore does not answer, 51 when a range has no free address left.
    public func status(_ r: PluginRequest) throws {
        let c: WhereaboutsConfig
        do { c = try config(r) } catch {
            throw CNIError(.unavailable, "whereabouts: invalid configuration", details: "\(error)")
        }
        let store: any WhereaboutsStore
        do { store = try self.store(c, r) } catch {
            throw CNIError(.unavailable, "whereabouts: the datastore is not usable", details: "\(error)")
        }
        for pool in pools(c) {
            let used: Int
            do {
                try store.ping(pool)
                used = try store.allocations(in: pool).filter { pool.range.isAllocatable($0.0) }.count
            } catch {
                throw CNIError(.unavailable, "whereabouts: the datastore is not reachable", details: "\(error)")
            }
            if UInt128(used) >= pool.range.capacity {
                throw CNIError(.unavailableDegraded, "whereabouts: no IP addresses available in range \(pool.range.cidr)")
            }
        }
    }

    /// Releases this network's allocations whose attachment is not in `cni.dev/valid-attachments`
    /// — only those made on this node: every allocation of the embedded store (then its sweep of
    /// what killed writers left), the attachments this node recorded for the cluster-wide datastores.
    public func gc(_ r: PluginRequest) throws {
        let valid = try r.config.validAttachments()
        let c = try config(r)
        let store = try store(c, r)
        if store.isNodeLocal {
            for pool in pools(c) {
                let stale = try store.allocations(in: pool).filter { _, a in
                    !valid.contains { a.belongs(toContainer: $0.containerID, ifName: $0.ifname) }
                }
                if !stale.isEmpty { try store.release(stale, in: pool) }
            }
            try (store as? FileStore)?.sweep()
            return
        }
        let journal = try AttachmentJournal(dataDir: c.dataDir, network: c.name)
        for (a, podRef) in try journal.attachments() where !valid.contains(a) {
            for pool in pools(c) { _ = try store.release(containerID: a.containerID, ifName: a.ifname, podRef: podRef, in: pool) }
            try journal.forget(a)
        }
    }
}

/// The attachments this node made on a cluster-wide datastore, one small file each
/// (`<dataDir>/attachments/<network>/<containerID>@<ifname>`, holding the podRef): what GC may
/// release, since the datastore's records (upstream's object shapes) do not say which node an
/// allocation is for.
struct AttachmentJournal {
    let directory: String

    init(dataDir: String, network: String) throws {
        try Names.validateNetworkName(network)
        directory = (dataDir.hasSuffix("/") ? dataDir : dataDir + "/") + "attachments/" + network
        try FileSystem.makeDirectories(directory, mode: 0o700)
    }

    func path(_ a: Attachment) -> String { directory + "/" + a.containerID + "@" + a.ifname }

    func record(_ a: Attachment, podRef: String) throws { try FileSystem.writeNew(path(a), Array(podRef.utf8)) }
    func forget(_ a: Attachment) throws { try FileSystem.remove(path(a)) }

    func attachments() throws -> [(Attachment, String)] {
        try FileSystem.list(directory).compactMap { name in
            guard let at = name.firstIndex(of: "@") else { return nil }
            let podRef = (try? FileSystem.read(directory + "/" + name)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return (Attachment(containerID: String(name[..<at]), ifname: String(name[name.index(after: at)...])), podRef)
        }
    }
}
