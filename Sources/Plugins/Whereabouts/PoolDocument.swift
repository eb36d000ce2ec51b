import CNI
import IPAM
import IPAddressing

/// Who holds an address of a pool: upstream's IPAllocation (`id`, `podref`, `ifname`), and
/// when it was made (Unix seconds; 0 where the datastore keeps no time in the record — the
/// Kubernetes datastore, whose reservations carry it instead).
public struct IPAllocation: Sendable, Hashable {
    public var containerID: String
    public var podRef: String
    public var ifName: String
    public var created: Int64

    public init(containerID: String, podRef: String, ifName: String, created: Int64 = 0) {
        (self.containerID, self.podRef, self.ifName, self.created) = (containerID, podRef, ifName, created)
    }

    /// The same pod's interface: by podRef when the attachment has one (a restarted sandbox gets
    /// its address back), else by container. A record without an interface name (upstream up to
    /// v0.6 wrote none) belongs to every interface of its owner.
    func isSameOwner(podRef ref: String, containerID id: String, ifName name: String) -> Bool {
        (ifName == name || ifName.isEmpty) && (ref.isEmpty ? containerID == id : podRef == ref)
    }

    /// Held by this container's interface (a record without an interface name: by any of them —
    /// upstream v0.6's DEL matches the container only).
    public func belongs(toContainer id: String, ifName name: String) -> Bool {
        containerID == id && (ifName == name || ifName.isEmpty)
    }
}

/// Every allocation of one pool, keyed by offset from the network address: an IPPool's
/// `spec.allocations` for the Kubernetes datastore, a small file for the embedded one.
/// Changed through `self[offset]`, which remembers the offsets it touched and what they held,
/// so what a writer must write back is found without comparing the whole pool (a full /22 is
/// ~1,000 records) and without keeping a copy of it (the first write would copy every record).
public struct PoolDocument: Sendable, Equatable {
    public var range: String
    public private(set) var allocations: [UInt128: IPAllocation]
    /// The offsets set or cleared through `self[offset]` since the document was made, each with
    /// the record it held then.
    private var originals: [UInt128: IPAllocation?] = [:]

    public init(range: String, allocations: [UInt128: IPAllocation] = [:]) {
        (self.range, self.allocations) = (range, allocations)
    }

    public subscript(offset: UInt128) -> IPAllocation? {
        get { allocations[offset] }
        set {
            if originals.index(forKey: offset) == nil { originals[offset] = .some(allocations[offset]) }
            allocations[offset] = newValue
        }
    }

    /// Same range, same allocations (whatever was touched on the way).
    public static func == (a: PoolDocument, b: PoolDocument) -> Bool { a.range == b.range && a.allocations == b.allocations }

    /// What differs from the document as it was made: each touched offset whose record is not
    /// the one it held then, lowest first, with that record (nil: it was free) and its record now
    /// (nil: released).
    public func changes() -> [(offset: UInt128, was: IPAllocation?, now: IPAllocation?)] {
        originals.sorted { $0.key < $1.key }.compactMap { off, was in allocations[off] == was ? nil : (off, was, allocations[off]) }
    }

    /// What the decisions below need of a pool, whatever the datastore.
    public func owned(by podRef: String, containerID: String, ifName: String) -> (UInt128, IPAllocation)? {
        // Lowest offset first, so a pool that (through some old bug) holds two is read the same way each time.
        var found: (UInt128, IPAllocation)?
        for (off, a) in allocations where a.isSameOwner(podRef: podRef, containerID: containerID, ifName: ifName) {
            if found == nil || off < found!.0 { found = (off, a) }
        }
        return found
    }

    /// `spec` as upstream writes it: offsets as decimal strings.
    public var specJSON: JSONValue {
        var a = JSONObject()
        for (off, al) in allocations.sorted(by: { $0.key < $1.key }) { a[String(off)] = Self.json(al) }
        return ["range": .string(range), "allocations": .object(a)]
    }

    package static func json(_ a: IPAllocation) -> JSONValue {
        ["id": .string(a.containerID), "podref": .string(a.podRef), "ifname": .string(a.ifName)]
    }

    /// Reads `spec` at the reader's cursor, member by member (at 99 % of a /22, ~1,000 records:
    /// built as a tree first, the pool cost three times as much to read). Entries whose key is
    /// not a decimal offset are skipped, as upstream does; a member that is not a string reads as
    /// ""; a repeated member, the last. `hasAllocations`: `spec.allocations` is an object (an
    /// empty map may be left out by some writers). A spec that is no object reads as empty.
    public static func read(spec r: inout JSONCursor) throws(JSONParseError) -> (doc: PoolDocument, hasAllocations: Bool) {
        var range = "", allocations: [UInt128: IPAllocation] = [:], hasAllocations = false
        _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
            switch key {
            case "range": range = try r.string() ?? ""
            case "allocations":
                allocations = [:]
                hasAllocations = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                    guard let off = UInt128(key) else { return }
                    var a = IPAllocation(containerID: "", podRef: "", ifName: "")
                    _ = try r.object { (key: String, r: inout JSONCursor) throws(JSONParseError) in
                        switch key {
                        case "id": a.containerID = try r.string() ?? ""
                        case "podref": a.podRef = try r.string() ?? ""
                        case "ifname": a.ifName = try r.string() ?? ""
                        default: break
                        }
                    }
                    allocations[off] = a
                }
            default: break
            }
        }
        return (PoolDocument(range: range, allocations: allocations), hasAllocations)
    }

    /// The changes as JSON-patch operations under `/spec/allocations`: additions and
    /// replacements, then removals, each lowest offset first.
    public func patch() -> [JSONValue] {
        var ops: [JSONValue] = [], removals: [JSONValue] = []
        for (off, was, now) in changes() {
            let path = JSONValue.string("/spec/allocations/\(off)")
            if let now {
                ops.append(["op": was == nil ? "add" : "replace", "path": path, "value": Self.json(now)])
            } else {
                removals.append(["op": "remove", "path": path])
            }
        }
        return ops + removals
    }
}

/// The decisions of ADD and DEL on one pool, the same for every datastore.
enum PoolDecision {
    /// The address (podRef, ifName) already holds in the pool (its container ID brought up to
    /// date), else `preferring` when it is free, else the lowest free one — or the first free at
    /// or after a random place with `randomStart` — skipping offsets in `heldElsewhere` (taken in
    /// an overlapping range) — recorded for the attachment.
    static func allocate(_ doc: inout PoolDocument, range: PoolRange, owner: IPAllocation, heldElsewhere: Set<UInt128>,
                         preferring: UInt128? = nil, randomStart: Bool = false) throws(IPAMError) -> (ip: IPAddress, existing: Bool) {
        if let (off, held) = doc.owned(by: owner.podRef, containerID: owner.containerID, ifName: owner.ifName),
           let ip = range.address(at: off) {
            // A new sandbox of the pod: the record is brought up to date (and young again for reconcile).
            if held.containerID != owner.containerID { doc[off] = owner }
            return (ip, true)
        }
        if let off = preferring, doc[off] == nil, !heldElsewhere.contains(off), let ip = range.address(at: off), range.isAllocatable(ip) {
            doc[off] = owner
            return (ip, false)
        }
        var start: IPAddress?
        if randomStart { start = range.first.advanced(by: UInt128.random(in: 0...(range.last.value - range.first.value))) }
        let bits = heldBits(doc, range: range, heldElsewhere: heldElsewhere)
        // The closures read `doc` itself: a second reference to its dictionary would make the
        // write below copy the whole pool.
        guard let ip = range.firstFree(from: start, isTaken: { bits?.contains($0) ?? (doc[$0] != nil || heldElsewhere.contains($0)) })
                ?? (start == nil ? nil : range.firstFree(isTaken: { bits?.contains($0) ?? (doc[$0] != nil || heldElsewhere.contains($0)) })),
              let off = range.offset(of: ip) else {
            throw .exhausted("Could not allocate IP in range \(range): every address is taken")
        }
        doc[off] = owner
        return (ip, false)
    }

    /// The held offsets of a pool mostly held, as bits: the search for a free address passes every
    /// held one before it (lowest first: ~1,000 at 99 % of a /22), and a hash and a dictionary
    /// lookup each were a quarter of such an ADD; one pass over the offsets and a bit test each
    /// cost a tenth of that. nil for a pool a few records fill, or one too sparse for its bits
    /// to pay (more than 32 bytes of bits per record).
    static func heldBits(_ doc: PoolDocument, range: PoolRange, heldElsewhere: Set<UInt128>) -> HeldBits? {
        let top = range.last.value - range.network.value
        guard doc.allocations.count >= 256, top < 1 << 24, Int(top / 64) < 4 * doc.allocations.count else { return nil }
        var bits = HeldBits(top: top)
        for off in doc.allocations.keys { bits.insert(off) }
        for off in heldElsewhere { bits.insert(off) }
        return bits
    }

    struct HeldBits {
        let top: UInt128
        var words: [UInt64]

        init(top: UInt128) {
            self.top = top
            words = Array(repeating: 0, count: Int(top / 64) + 1)
        }

        /// Offsets above the range's last address are no candidates: left out.
        mutating func insert(_ off: UInt128) {
            if off <= top { words[Int(off / 64)] |= 1 << UInt64(off % 64) }
        }

        func contains(_ off: UInt128) -> Bool {
            off <= top && words[Int(off / 64)] & (1 << UInt64(off % 64)) != 0
        }
    }

    /// Removes what (containerID, ifName) holds; returns the addresses and their records.
    static func release(_ doc: inout PoolDocument, range: PoolRange, containerID: String,
                        ifName: String) -> [(IPAddress, IPAllocation)] {
        var out: [(IPAddress, IPAllocation)] = []
        for (off, a) in doc.allocations where a.belongs(toContainer: containerID, ifName: ifName) {
            doc[off] = nil
            if let ip = range.address(at: off) { out.append((ip, a)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }
}
