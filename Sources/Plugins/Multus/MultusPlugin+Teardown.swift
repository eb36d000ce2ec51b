import CNI
import CNIRuntime
import Kubernetes
import LinuxSystem
import PluginKit

extension MultusPlugin {
    // MARK: DEL

    /// Every delegate's DEL, newest first, each tried whatever the others did, even with the API
    /// server down, the pod gone or the namespace gone. The delegates come from the scratch cache,
    /// else from the API; with neither, the DEL fails (code 11) instead of succeeding and leaking
    /// what the delegates hold (multus#920, #1087). The cache stays while any DEL failed, so a
    /// retried DEL finishes the job (multus#355).
    public func del(_ r: PluginRequest) throws {
        var c = try context(r)
        let delegates = try delegatesForTeardown(&c)
        var steps = BestEffort()
        for d in delegates.reversed() {
            steps.run {
                try prefixed("multus: DEL of network \(d.name) (\(d.ifName))") { try c.runtime.del(d.list(), c.runtimeConf(d)) }
                DeviceInfo.remove(d)
            }
        }
        do { try steps.finish() } catch {
            c.log.error("DEL \(r.containerID): \(error) (the delegate cache stays for the next DEL)")
            throw error
        }
        c.cache.remove(r.containerID)
        c.log.verbose("DEL \(r.containerID): \(delegates.count) networks removed")
    }

    /// The attachment's delegates: cached by its ADD, else resolved again from the pod (an ADD
    /// that never wrote a cache attached nothing beyond them).
    func delegatesForTeardown(_ c: inout Context) throws -> [MultusDelegate] {
        if let entry = try c.cache.read(c.request.containerID) {
            // The pod as the ADD knew it (a GC's DEL has no CNI_ARGS of its own): IPAM plugins
            // that key on the pod release by it.
            if !c.podRef.isSet {
                c.podRef.namespace = entry.podNamespace
                c.podRef.name = entry.podName
                c.podRef.uid = entry.podUID
                c.podRef.infraContainerID = entry.infraContainerID
            }
            return entry.delegates
        }
        let resolver = try c.teardownResolver
        defer {
            if let e = resolver.devices.ignored { c.log.error("DEL \(c.request.containerID): devices not read (\(e)); the networks go without") }
        }
        guard let api = try c.api, c.podRef.isSet else {
            // No cluster: the static delegates are all there is.
            return try resolver.resolve(pod: nil)
        }
        do {
            let pod = try api.pod(namespace: c.podRef.namespace, name: c.podRef.name)
            return try resolver.resolve(pod: pod)
        } catch let e as KubeError where e.isNotFound {
            // The pod is gone and with it its annotation: the networks every pod gets still go.
            var ds = try resolver.masterAndDefaults(pod: nil)
            try resolver.assignInterfaces(&ds)
            return ds
        } catch let e as KubeError {
            throw CNIError(.tryAgainLater, "multus: no delegate cache for \(c.request.containerID) and the pod cannot be read",
                           details: "\(e); DEL again when the API server answers")
        } catch {
            throw error
        }
    }

    // MARK: CHECK, STATUS, GC

    /// How long an incomplete cache entry counts as an ADD in progress (multus's own ADD waits
    /// at most 45 s for readiness, then attaches).
    static let addGracePeriod = 600.0

    /// CHECK of every delegate of the attachment (upstream checks only static delegates); a
    /// network whose configuration predates CHECK (< 0.4.0) has nothing to check.
    public func check(_ r: PluginRequest) throws {
        let c = try context(r)
        guard let entry = try c.cache.read(r.containerID) else {
            throw CNIError.invalidConfig("multus: no delegate cache for \(r.containerID): was it added?")
        }
        for d in entry.delegates {
            guard let v = try d.list().version, v >= .v0_4_0 else { continue }
            try prefixed("multus: CHECK of network \(d.name) (\(d.ifName))") { try c.runtime.check(d.list(), c.runtimeConf(d)) }
        }
    }

    /// Ready when every network every pod gets is ready.
    public func status(_ r: PluginRequest) throws {
        let c = try context(r)
        try waitForReadiness(c.conf)
        for d in try c.resolver.masterAndDefaults(pod: nil) { try c.runtime.status(d.list()) }
    }

    /// Every network of the entry has its result in libcni's cache: its ADD got through them all.
    func attached(_ entry: ScratchCache.Entry, _ id: String, _ c: Context) -> Bool {
        entry.delegates.allSatisfy { d in
            guard let name = try? d.list().name else { return false }
            return c.runtime.cache.read(network: name, containerID: id, ifName: d.ifName) != nil
        }
    }

    /// Removes the scratch caches of attachments the runtime no longer has (DELing their
    /// delegates first, so nothing leaks), then sends each delegate network GC with the
    /// attachments of it that the valid pods still use.
    public func gc(_ r: PluginRequest) throws {
        let c = try context(r)
        try waitForReadiness(c.conf)
        let validIDs = Set(try r.config.validAttachments().map(\.containerID))
        var steps = BestEffort()
        var live: [String: (list: NetworkConfigList, attachments: Set<Attachment>)] = [:]
        for id in c.cache.containerIDs() {
            steps.run {
                guard let entry = try c.cache.read(id) else { return }
                // An ADD still attaching (a network without its result yet, the cache written
                // moments ago) is not stale.
                if !attached(entry, id, c) && (c.cache.age(id) ?? 0) < Self.addGracePeriod { return }
                if validIDs.contains(id) {
                    for d in entry.delegates {
                        let list = try d.list()
                        live[list.name, default: (list, [])].attachments.insert(Attachment(containerID: id, ifname: d.ifName))
                    }
                } else {
                    let netns = FileSystem.exists(entry.netns) ? entry.netns : ""
                    try del(r.del(containerID: id, netns: netns))
                }
            }
        }
        for d in try c.resolver.masterAndDefaults(pod: nil) {
            let list = try d.list()
            if live[list.name] == nil { live[list.name] = (list, []) }
        }
        for (_, v) in live.sorted(by: { $0.key < $1.key }) { steps.run { try c.runtime.gc(v.list, valid: v.attachments) } }
        try steps.finish()
    }
}

/// Runs `body`; its error keeps its code and gets `what` in front of its message.
func prefixed<T>(_ what: String, _ body: () throws -> T) throws(CNIError) -> T {
    do { return try body() } catch {
        let e = CNIError.from(error)
        throw CNIError(code: e.code, msg: "\(what): \(e.msg)", details: e.details)
    }
}
