import Whereabouts
import CNI
import Glibc
import IPAM
import IPAddressing
import Kubernetes
import KubernetesClient

/// The Kubernetes datastore: upstream's IPPool and OverlappingRangeIPReservation objects
/// (`whereabouts.cni.cncf.io/v1alpha1`), same names, same shapes, so a cluster can run upstream
/// and ours side by side on the same pools. Instead of upstream's one Lease for the whole
/// cluster (every ADD and DEL in turn, a LIST of every pool each time), each pool is written
/// with a JSON patch that first tests each address it changes (`patchOperations`): concurrent
/// writers of different addresses do not fail each other's writes, even in one pool, and of
/// two writers of one address the loser reads again and retries after a short random pause.
/// Upstream's own patches test the resourceVersion, so neither side can overwrite the other.
public final class KubernetesStore: DocumentBackend {
    let client: KubeClient
    public let namespace: String
    /// Conflicts on one pool are retried this many times (upstream: 100).
    var attempts = 100

    public init(client: KubeClient, namespace: String) { (self.client, self.namespace) = (client, namespace) }

    public var isNodeLocal: Bool { false }

    static let group = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/"
    func poolPath(_ name: String) -> String { Self.group + namespace + "/ippools/" + name }
    func reservationPath(_ name: String) -> String { Self.group + namespace + "/overlappingrangeipreservations/" + name }

    /// GETs the pool (creating an empty one when missing), runs `body`, and PATCHes what changed,
    /// each change behind a test of what it changes (`patchOperations`); 422 (a test failed) or
    /// 409 → read again.
    package func transact<T>(_ pool: PoolRef, _ body: (inout PoolDocument) throws -> T) throws -> T {
        for attempt in 0..<attempts {
            if attempt > 0 { Backoff.pause(attempt) }
            // The pool read is moved into `body`, not copied (a second reference would make its
            // first change copy every record); the document remembers what it changed.
            let (read, version, hasAllocations) = try fetch(pool)
            var doc = consume read
            let out = try body(&doc)
            let ops = Self.patchOperations(doc, version: version, hasAllocations: hasAllocations)
            if ops.isEmpty { return out }
            do {
                _ = try client.call(.PATCH, poolPath(pool.name), body: .array(ops), contentType: "application/json-patch+json")
                return out
            } catch {
                guard error.kind == .status(422) || error.isConflict else { throw error }
            }
        }
        throw CNIError(.tryAgainLater, "whereabouts: pool \(pool.name) kept changing under \(attempts) attempts")
    }

    /// The JSON patch of what `doc` changed since it was read, applied only if what it changes
    /// is still as read: an added offset must be absent (a missing member tests equal to null in
    /// the API server's json-patch, the guard upstream puts before its own adds), a released or
    /// taken-over one must still hold the container ID read. So writers of different addresses in
    /// one pool do not invalidate each other (upstream tests the pool's resourceVersion: every
    /// concurrent write but one fails); two writers of one address still cannot both succeed. A record
    /// without a container ID (nothing to test), or a pool without `spec.allocations` yet, is
    /// written behind the resourceVersion instead. Upstream's writers test the resourceVersion,
    /// so they never overwrite ours either. Nothing changed: no operations.
    ///
    /// The price: "does this pod hold an address here already" is no longer decided against a
    /// pool nobody changed meanwhile, so two ADDs of one pod and interface racing each other (two
    /// sandboxes at once) can both get an address; each sandbox's DEL releases its own. Runtimes
    /// do not ADD one sandbox twice at once.
    static func patchOperations(_ doc: PoolDocument, version: String, hasAllocations: Bool) -> [JSONValue] {
        let changes = doc.changes()
        if changes.isEmpty { return [] }
        let versionTest: JSONValue = ["op": "test", "path": "/metadata/resourceVersion", "value": .string(version)]
        guard hasAllocations else {
            return [versionTest, ["op": "add", "path": "/spec/allocations", "value": doc.specJSON["allocations"]!]]
        }
        var ops: [JSONValue] = []
        for (off, was, now) in changes {
            let path = "/spec/allocations/" + String(off)
            if let was {
                if was.containerID.isEmpty { return [versionTest] + doc.patch() }
                ops.append(["op": "test", "path": .string(path + "/id"), "value": .string(was.containerID)])
                ops.append(now.map { ["op": "replace", "path": .string(path), "value": PoolDocument.json($0)] } ?? ["op": "remove", "path": .string(path)])
            } else if let now {
                ops.append(["op": "test", "path": .string(path), "value": .null])
                ops.append(["op": "add", "path": .string(path), "value": PoolDocument.json(now)])
            }
        }
        return ops
    }

    /// The pool, its resourceVersion, and whether `spec.allocations` exists (an empty map may
    /// be left out by some writers).
    func fetch(_ pool: PoolRef) throws -> (doc: PoolDocument, version: String, hasAllocations: Bool) {
        while true {
            do {
                guard let read = Self.readPool(try client.call(.GET, poolPath(pool.name)).body) else {
                    throw CNIError(.kubernetesAPI, "whereabouts: IPPool \(namespace)/\(pool.name) is not an IPPool")
                }
                if read.doc.range != pool.range.cidr {
                    throw CNIError(.invalidNetworkConfig, "whereabouts: IPPool \(pool.name) is of range \(read.doc.range), not \(pool.range.cidr)")
                }
                return read
            } catch let e as KubeError where e.isNotFound {
                let object: JSONValue = ["apiVersion": "whereabouts.cni.cncf.io/v1alpha1", "kind": "IPPool",
                                         "metadata": ["name": .string(pool.name), "namespace": .string(namespace)],
                                         "spec": PoolDocument(range: pool.range.cidr).specJSON]
                do {
                    _ = try client.call(.POST, Self.group + namespace + "/ippools", body: object)
                } catch {
                    if error.kind != .status(409) { throw error }  // made by another writer meanwhile
                }
            }
        }
    }

    /// An IPPool object as the API answers it, read member by member: its spec
    /// (`PoolDocument.read(spec:)`), metadata.resourceVersion, whether spec.allocations is there.
    /// nil: not an IPPool (not JSON, no JSON object, no spec, no resourceVersion string); a
    /// repeated member, the last (of offsets spelled two ways, "5" and "05", the last too).
    static func readPool(_ body: [UInt8]) -> (doc: PoolDocument, version: String, hasAllocations: Bool)? {
        var r = JSONCursor(body)
        var version: String?, spec: (doc: PoolDocument, hasAllocations: Bool)?
        do {
            let isObject = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                switch key {
                case "spec": spec = try PoolDocument.read(spec: &r)
                case "metadata":
                    version = nil
                    _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                        if key == "resourceVersion" { version = try r.string() }
                    }
                default: break
                }
            }
            try r.end()
            guard isObject, let spec, let version else { return nil }
            return (spec.doc, version, spec.hasAllocations)
        } catch {
            return nil
        }
    }

    package func claim(_ name: String, for owner: IPAllocation) throws -> ReservationClaim {
        let object: JSONValue = ["apiVersion": "whereabouts.cni.cncf.io/v1alpha1", "kind": "OverlappingRangeIPReservation",
                                 "metadata": ["name": .string(name), "namespace": .string(namespace)],
                                 // containerid: required by v0.6's schema; podref + ifname: today's.
                                 "spec": ["containerid": .string(owner.containerID), "podref": .string(owner.podRef),
                                          "ifname": .string(owner.ifName)]]
        while true {
            do {
                _ = try client.call(.POST, Self.group + namespace + "/overlappingrangeipreservations", body: object)
                return .claimed
            } catch {
                guard error.kind == .status(409) else { throw error }
            }
            do {
                let object = try client.call(.GET, reservationPath(name)).json
                let holder = object?["spec"]?["podref"]?.stringValue ?? ""
                if holder == owner.podRef { return .alreadyOurs }
                // Made in the last minute by the API server's clock (seconds; the node's may be off a little).
                let made = object?["metadata"]?["creationTimestamp"]?.stringValue.flatMap(Self.unixTime)
                return .heldByOther(podRef: holder, justNow: made.map { abs(Int64(time(nil)) - $0) < 60 } ?? false)
            } catch {
                guard error.isNotFound else { throw error }  // released meanwhile: claim again
            }
        }
    }

    package func unclaim(_ name: String, podRef: String) throws {
        let holder: String
        do {
            holder = try client.call(.GET, reservationPath(name)).json?["spec"]?["podref"]?.stringValue ?? ""
        } catch {
            if error.isNotFound { return }
            throw error
        }
        guard holder == podRef else { return }
        do { _ = try client.call(.DELETE, reservationPath(name)) } catch {
            if !error.isNotFound { throw error }
        }
    }

    /// An IPPool records no time; the overlapping-range reservation of each address does (its
    /// creationTimestamp). One LIST of the reservations (reconcile's, not the per-pod path).
    public func creationTimes(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws -> [IPAddress: Int64] {
        let items = try client.call(.GET, Self.group + namespace + "/overlappingrangeipreservations").json?["items"]?.arrayValue ?? []
        var byName: [String: Int64] = [:]
        for item in items {
            if let name = item["metadata"]?["name"]?.stringValue, let t = item["metadata"]?["creationTimestamp"]?.stringValue,
               let seconds = Self.unixTime(t) { byName[name] = seconds }
        }
        var out: [IPAddress: Int64] = [:]
        for (ip, _) in held { out[ip] = byName[pool.reservationName(ip)] }
        return out
    }

    /// "2026-12-01T17:19:39Z" (RFC 3339 in UTC, as the API server writes it) → Unix seconds.
    static func unixTime(_ text: String) -> Int64? {
        let digits = text.utf8.split { $0 < UInt8(ascii: "0") || $0 > UInt8(ascii: "9") }.map { Int(String(decoding: $0, as: UTF8.self)) ?? -1 }
        guard digits.count >= 6, text.hasSuffix("Z") else { return nil }
        var t = tm()
        t.tm_year = Int32(digits[0] - 1900); t.tm_mon = Int32(digits[1] - 1); t.tm_mday = Int32(digits[2])
        t.tm_hour = Int32(digits[3]); t.tm_min = Int32(digits[4]); t.tm_sec = Int32(digits[5])
        return Int64(timegm(&t))
    }

    /// STATUS: the API answers for this pool (missing is fine).
    public func ping(_ pool: PoolRef) throws {
        do { _ = try client.call(.GET, poolPath(pool.name)) } catch {
            if !error.isNotFound { throw error }
        }
    }

}
