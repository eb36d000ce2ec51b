import Whereabouts
import CNI
import Glibc
import IPAM
import IPAddressing
import LinuxSystem

/// The etcd datastore (etcd v3). No global lock and no list of everything: a pool is kept as
/// bitmap chunks of 256 addresses (a missing chunk is all free), plus one key per allocation and
/// two small indexes:
///   <root>/pools/<pool>/chunk/<n>                 32 bytes: bit i set = offset 256n+i taken
///   <root>/pools/<pool>/ip/<offset>               the allocation: {"id","podref","ifname","created"}
///   <root>/pools/<pool>/pod/<podRef>/<ifname>     → offset (the same pod gets its address back;
///                                                   DEL finds it there and checks the container)
///   <root>/pools/<pool>/cid/<containerID>/<ifname>  → offset (the same, for attachments without a pod)
///   <root>/reservations/<name>                    "<podRef>\t<ifName>" (overlapping ranges)
/// An ADD reads the pool's chunks (one range read, |pool|/256 small values), picks a free bit and
/// commits everything in one transaction that compares the chunk's value (and that the pod index
/// and reservation are absent): finding a free address costs the same at 1 % and at 99 % fill,
/// and two writers only conflict when they picked the same chunk. The node keeps the chunks as it
/// last saw them (`<dataDir>/etcd-hints/<pool>`), so the next ADD on it tries its transaction at
/// once, without the read: one request when nobody else wrote the chunk since, two when someone
/// did (as with the read) — the comparison of the chunk's value, not its revision, is what makes
/// a stale or damaged hint harmless (it can only make a transaction fail). A lost transaction
/// reads back the chunk as it is now (all of the pool's chunks when it went by the hint), the pod's
/// index and the reservation's holder, so the loser tries again after a short random pause
/// without reading the pool: one request per attempt. From then on it starts its search at a
/// random place, so concurrent clients spread over the chunks (a lone client takes the lowest
/// free address).
public final class EtcdStore: WhereaboutsStore {
    let client: EtcdClient
    let root = "/swift-cni/whereabouts"
    var attempts = 100
    /// Where the node keeps its view of each pool's chunks; nil: every ADD reads the pool.
    let hints: String?

    init(_ settings: WhereaboutsConfig.EtcdSettings, hints: String? = nil) throws(CNIError) {
        client = try EtcdClient(settings)
        self.hints = hints
    }

    public var isNodeLocal: Bool { false }

    static let chunkBits: UInt128 = 256

    func base(_ pool: PoolRef) -> String { root + "/pools/" + pool.name + "/" }
    func reservationKey(_ name: String) -> String { root + "/reservations/" + name }

    struct Chunk {
        var bits: [UInt8]
        var modRevision: Int64?  // nil: the key does not exist yet; 0: it exists, its revision unknown (the hint's, our own write)
        func isSet(_ i: Int) -> Bool { bits[i >> 3] & (1 << UInt8(i & 7)) != 0 }
        mutating func set(_ i: Int, _ on: Bool) {
            if on { bits[i >> 3] |= 1 << UInt8(i & 7) } else { bits[i >> 3] &= ~(1 << UInt8(i & 7)) }
        }
    }

    func chunks(_ pool: PoolRef, from kvs: [EtcdClient.KeyValue]) -> [UInt128: Chunk] {
        let prefix = base(pool) + "chunk/"
        var out: [UInt128: Chunk] = [:]
        for kv in kvs {
            guard let n = UInt128(kv.key.dropFirst(prefix.count)) else { continue }
            out[n] = Self.chunk(kv)
        }
        return out
    }

    /// A chunk as etcd holds it; one whose value is not 32 bytes (written by something else) is
    /// read as full: none of its addresses is handed out, and nothing of it is lost.
    static func chunk(_ kv: EtcdClient.KeyValue?) -> Chunk {
        guard let kv else { return Chunk(bits: emptyChunk, modRevision: nil) }
        return Chunk(bits: kv.value.count == 32 ? kv.value : fullChunk, modRevision: kv.modRevision)
    }

    func hintFile(_ pool: PoolRef) -> String? {
        hints.map { $0 + "/" + String(pool.name.map { $0 == "/" ? "_" : $0 }) }
    }

    /// The node's last view of the pool's chunks: records of a chunk number (16 bytes, big
    /// endian) and its 32 bytes, after a magic line. Nil when there is none or it is damaged.
    func loadHint(_ pool: PoolRef) -> View? {
        guard let file = hintFile(pool), let bytes = try? FileSystem.read(file, atMost: 64 << 20),
              bytes.count >= Self.hintMagic.count, Array(bytes[0..<Self.hintMagic.count]) == Self.hintMagic,
              (bytes.count - Self.hintMagic.count) % 48 == 0 else { return nil }
        var view = View()
        var at = Self.hintMagic.count
        while at < bytes.count {
            let n = bytes[at..<(at + 16)].reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            view[n] = Chunk(bits: Array(bytes[(at + 16)..<(at + 48)]), modRevision: 0)
            at += 48
        }
        return view
    }

    /// Keeps the view for the node's next ADD or DEL: rewritten in place (no rename, no fsync —
    /// a torn or interleaved write only loses the hint, or makes one transaction fail).
    func saveHint(_ pool: PoolRef, _ view: View) {
        guard let file = hintFile(pool) else { return }
        var bytes = Self.hintMagic
        for (n, chunk) in view.sorted(by: { $0.key < $1.key }) where chunk.modRevision != nil && chunk.bits.count == 32 {
            for i in stride(from: 120, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: n >> UInt128(i))) }
            bytes += chunk.bits
        }
        if (try? FileSystem.overwrite(file, bytes)) == true { return }
        try? FileSystem.makeDirectories(hints!)
        try? FileSystem.writeAtomically(file, bytes, durable: false)
    }

    static let hintMagic = Array("swift-cni etcd chunks 1\n".utf8)

    static let emptyChunk = [UInt8](repeating: 0, count: 32)
    static let fullChunk = [UInt8](repeating: 0xff, count: 32)

    static func record(_ a: IPAllocation) -> [UInt8] {
        var o = PoolDocument.json(a).objectValue!
        o["created"] = .int(Int(a.created))
        return JSONValue.object(o).serialized()
    }
    static func allocation(_ bytes: [UInt8]) -> IPAllocation? {
        guard let j = try? JSONValue.parse(bytes) else { return nil }
        return IPAllocation(containerID: j["id"]?.stringValue ?? "", podRef: j["podref"]?.stringValue ?? "",
                            ifName: j["ifname"]?.stringValue ?? "", created: Int64(j["created"]?.intValue ?? 0))
    }
    static func reservation(_ a: IPAllocation) -> [UInt8] { Array((a.podRef + "\t" + a.ifName).utf8) }

    func cidKey(_ pool: PoolRef, _ containerID: String, _ ifName: String) -> String { base(pool) + "cid/" + containerID + "/" + ifName }
    func podKey(_ pool: PoolRef, _ podRef: String, _ ifName: String) -> String { base(pool) + "pod/" + podRef + "/" + ifName }

    /// What a writer knows of a pool's chunks: one full read's (or the node's hint), then each
    /// chunk as a lost transaction returned it.
    typealias View = [UInt128: Chunk]

    public func allocate(_ owner: IPAllocation, in pool: PoolRef) throws -> IPAddress {
        try allocate(owner, in: pool, view: nil)
    }

    /// `known`: a view to start from instead of a read of the pool (tests: a writer whose read
    /// another writer overtook).
    func allocate(_ owner: IPAllocation, in pool: PoolRef, view known: View?) throws -> IPAddress {
        var heldElsewhere = Set<UInt128>()
        var contended = false
        // Without a view to start from: the node's hint, else a read of the pool.
        var view = known ?? loadHint(pool)
        // Whether the view is the hint's (every chunk of it may be out of date, and one missing
        // from it may exist).
        var fromHint = known == nil && view != nil
        // Whether the view is one read's as a whole: only then does "no free address" hold.
        var complete = false
        let indexKey = owner.podRef.isEmpty ? cidKey(pool, owner.containerID, owner.ifName) : podKey(pool, owner.podRef, owner.ifName)
        // The pod's index entry as read when it points at nothing of this pod's (an offset out of
        // the range, a record gone or another's): replaced by the new one, compared as it was.
        var staleIndex: [UInt8]?
        /// The pod's index as read: its address when adopted; nil when the record changed
        /// meanwhile (the view is dropped: read again) or the index is stale (`staleIndex`).
        func adoptIndexed(_ held: EtcdClient.KeyValue) throws -> IPAddress? {
            if let off = UInt128(held.text), let ip = pool.range.address(at: off) {
                switch try adopt(off, owner, pool) {
                case .adopted: return ip
                case .lost: (view, contended) = (nil, true); return nil
                case .notOurs: break
                }
            }
            staleIndex = held.value
            return nil
        }
        for attempt in 0..<attempts {
            if contended { Backoff.pause(attempt, base: 1_000) }  // 0.4–2 ms, then up to 1.6–8 ms
            if view == nil {
                // The pod's index entry and the pool's bitmap, in one round trip.
                let reads = try client.read([.get(indexKey), .list(base(pool) + "chunk/")])
                staleIndex = nil
                if let held = reads.first?.first {
                    if let ip = try adoptIndexed(held) { return ip }
                    if staleIndex == nil { continue }  // the record changed meanwhile: read again
                }
                view = chunks(pool, from: reads.count > 1 ? reads[1] : [])
                (complete, fromHint) = (true, false)
            }
            let chunks = view ?? [:]
            func taken(_ off: UInt128) -> Bool {
                heldElsewhere.contains(off) || chunks[off / Self.chunkBits]?.isSet(Int(off % Self.chunkBits)) == true
            }
            var start: IPAddress?
            if contended {
                let span = pool.range.last.value - pool.range.first.value
                start = pool.range.first.advanced(by: UInt128.random(in: 0...span))
            }
            guard let ip = pool.range.firstFree(from: start, isTaken: taken) ?? pool.range.firstFree(isTaken: taken),
                  let off = pool.range.offset(of: ip) else {
                if !complete {
                    // Full as far as this writer saw since its read: read the pool again first.
                    view = nil
                    continue
                }
                throw IPAMError.exhausted("Could not allocate IP in range \(pool.range): every address is taken")
            }
            let n = off / Self.chunkBits
            let before = chunks[n] ?? Chunk(bits: Self.emptyChunk, modRevision: nil)
            var chunk = before
            chunk.set(Int(off % Self.chunkBits), true)
            let chunkKey = base(pool) + "chunk/" + String(n)
            var compares: [EtcdClient.Compare] = [before.modRevision == nil ? .absent(chunkKey) : .value(chunkKey, before.bits),
                                                  staleIndex.map { .value(indexKey, $0) } ?? .absent(indexKey)]
            var ops: [EtcdClient.Operation] = [.put(chunkKey, chunk.bits), .put(base(pool) + "ip/" + String(off), Self.record(owner)),
                                               .put(indexKey, Array(String(off).utf8))]
            // What a lost transaction reads instead: the pod's index, the chunk as it is now (all
            // of the pool's chunks when the view was the hint's, which may be out of date
            // throughout), the reservation's holder — the next attempt needs no read of the pool.
            let hinted = fromHint
            var failure: [EtcdClient.Operation] = [.get(indexKey), hinted ? .list(base(pool) + "chunk/") : .get(chunkKey)]
            let reservation = reservationKey(pool.reservationName(ip))
            if pool.overlapping {
                compares.append(.absent(reservation))
                ops.append(.put(reservation, Self.reservation(owner)))
                failure.append(.get(reservation))
            }
            let (ok, failed) = try client.txn(compares, success: ops, failure: failure)
            if ok {
                if hints != nil {
                    var seen = view ?? [:]
                    seen[n] = Chunk(bits: chunk.bits, modRevision: 0)
                    saveHint(pool, seen)
                }
                return ip
            }
            let index = failed.first?.first
            if let index, index.value != staleIndex {
                // Another sandbox of this pod was quicker (or its index changed).
                if let ip = try adoptIndexed(index) { return ip }
                if view == nil { continue }
            } else if index == nil {
                staleIndex = nil
            }
            let now: Chunk
            if hinted {
                // The pool as the transaction found it: the next attempt starts from a whole read.
                view = self.chunks(pool, from: failed.count > 1 ? failed[1] : [])
                (complete, fromHint) = (true, false)
                now = view?[n] ?? Chunk(bits: Self.emptyChunk, modRevision: nil)
            } else {
                now = Self.chunk(failed.count > 1 ? failed[1].first : nil)
                view?[n] = now
                complete = false
            }
            // Another writer changed the chunk: a race, after which writers spread out. A chunk as
            // it was, with the address reserved by an overlapping range: no race, the next free
            // address. A hint that was out of date is a race when the chunk is not as it says.
            contended = hinted ? now.bits != before.bits : now.modRevision != before.modRevision
            if pool.overlapping, failed.count > 2, let holder = failed[2].first {
                if holder.value == Self.reservation(owner) && !owner.podRef.isEmpty {
                    // This pod's and interface's own leftover reservation: take it over.
                    _ = try client.txn([.value(reservation, holder.value)], success: [.delete(reservation)])
                } else {
                    heldElsewhere.insert(off)
                }
            }
        }
        throw CNIError(.tryAgainLater, "whereabouts: pool \(pool.name) kept changing under \(attempts) attempts")
    }

    enum Adoption { case adopted, lost, notOurs }

    /// The pod's index points at `off`: record the new container ID (a new sandbox of the same
    /// pod) — `lost` when the record changed meanwhile, `notOurs` when there is no record of
    /// this pod and interface there.
    func adopt(_ off: UInt128, _ owner: IPAllocation, _ pool: PoolRef) throws -> Adoption {
        let recordKey = base(pool) + "ip/" + String(off)
        guard let rec = try client.get(recordKey), let held = Self.allocation(rec.value),
              held.podRef == owner.podRef, held.ifName == owner.ifName,
              !owner.podRef.isEmpty || held.containerID == owner.containerID else { return .notOurs }
        if held.containerID == owner.containerID { return .adopted }
        let (ok, _) = try client.txn([.modRevision(recordKey, rec.modRevision)], success: [.put(recordKey, Self.record(owner))])
        return ok ? .adopted : .lost
    }

    /// Found through the pod's index (or the container's, without a pod) and checked against the
    /// record: a late DEL of a pod's old sandbox frees nothing of its new one. Without a podRef,
    /// an attachment made with one is found by a scan of the pool's records (DEL without CNI_ARGS).
    public func release(containerID: String, ifName: String, podRef: String, in pool: PoolRef) throws -> [IPAddress] {
        let mine = { (a: IPAllocation) in a.belongs(toContainer: containerID, ifName: ifName) }
        let index = podRef.isEmpty ? cidKey(pool, containerID, ifName) : podKey(pool, podRef, ifName)
        var offsets: [UInt128] = []
        if let kv = try client.get(index), let off = UInt128(kv.text) {
            offsets = [off]
        } else if podRef.isEmpty {
            offsets = try allocations(in: pool).filter { mine($0.1) }.compactMap { pool.range.offset(of: $0.0) }
        }
        var released: [IPAddress] = []
        for off in offsets {
            if try releaseOffset(off, pool, matching: mine) != nil, let ip = pool.range.address(at: off) { released.append(ip) }
        }
        return released
    }

    /// Clears the offset's bit, its record and indexes in one transaction, if the record matches;
    /// then the overlapping-range reservation, if the record's pod holds it.
    func releaseOffset(_ off: UInt128, _ pool: PoolRef, matching: (IPAllocation) -> Bool) throws -> IPAllocation? {
        let recordKey = base(pool) + "ip/" + String(off)
        let n = off / Self.chunkBits
        let chunkKey = base(pool) + "chunk/" + String(n)
        /// After the transaction: the node's hint, and the reservation if this pod holds it.
        func finish(_ a: IPAllocation, _ chunk: Chunk) throws -> IPAllocation {
            if var seen = loadHint(pool) {
                seen[n] = chunk
                saveHint(pool, seen)
            }
            if pool.overlapping, let ip = pool.range.address(at: off) {
                let key = reservationKey(pool.reservationName(ip))
                _ = try client.txn([.value(key, Self.reservation(a))], success: [.delete(key)])
            }
            return a
        }
        var sent: IPAllocation?
        for attempt in 0..<attempts {
            if attempt > 0 { Backoff.pause(attempt) }
            let reads = try client.read([.get(recordKey), .get(chunkKey)])
            guard let rec = reads.first?.first, let a = Self.allocation(rec.value), matching(a) else {
                // Gone since this call's transaction was sent: it may have been carried out with
                // its answer lost (the client sends a call whose connection broke to the next
                // endpoint, where it fails its comparisons) — what it leaves is finished here.
                if let a = sent { return try finish(a, Self.chunk(reads.count > 1 ? reads[1].first : nil)) }
                return nil
            }
            var chunk = Self.chunk(reads.count > 1 ? reads[1].first : nil)
            chunk.set(Int(off % Self.chunkBits), false)
            let index = a.podRef.isEmpty ? cidKey(pool, a.containerID, a.ifName) : podKey(pool, a.podRef, a.ifName)
            let ops: [EtcdClient.Operation] = [.put(chunkKey, chunk.bits), .delete(recordKey), .delete(index)]
            let compares: [EtcdClient.Compare] = [.modRevision(recordKey, rec.modRevision),
                                                  chunk.modRevision.map { .modRevision(chunkKey, $0) } ?? .absent(chunkKey)]
            sent = a
            let (ok, _) = try client.txn(compares, success: ops)
            if ok { return try finish(a, chunk) }
        }
        throw CNIError(.tryAgainLater, "whereabouts: pool \(pool.name) kept changing under \(attempts) attempts")
    }

    public func allocations(in pool: PoolRef) throws -> [(IPAddress, IPAllocation)] {
        let prefix = base(pool) + "ip/"
        return try client.list(prefix: prefix).compactMap { kv in
            guard let off = UInt128(kv.key.dropFirst(prefix.count)), let ip = pool.range.address(at: off),
                  let a = Self.allocation(kv.value) else { return nil }
            return (ip, a)
        }.sorted { $0.0 < $1.0 }
    }

    public func release(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws {
        for (ip, a) in held {
            guard let off = pool.range.offset(of: ip) else { continue }
            _ = try releaseOffset(off, pool) { $0 == a }
        }
    }

    public func ping(_ pool: PoolRef) throws { try client.status() }
}
