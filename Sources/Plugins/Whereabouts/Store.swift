import CNI
import Glibc
import IPAM
import IPAddressing

/// What ADD, DEL, CHECK, STATUS and GC ask of a datastore, one pool (range) at a time.
/// Implementations: `FileStore` (embedded, this node), `KubernetesStore` (IPPool CRDs),
/// `EtcdStore` (etcd v3).
public protocol WhereaboutsStore: AnyObject {
    /// Gives the owner an address of the range (the one it holds there already, if any).
    func allocate(_ owner: IPAllocation, in pool: PoolRef) throws -> IPAddress
    /// Releases everything (containerID, ifName) holds in the range; nothing held is fine.
    /// `podRef` (may be empty) lets a store find it without a scan.
    func release(containerID: String, ifName: String, podRef: String, in pool: PoolRef) throws -> [IPAddress]
    /// Every allocation of the range.
    func allocations(in pool: PoolRef) throws -> [(IPAddress, IPAllocation)]
    /// Releases these addresses if they are still held by these records (GC, reconcile).
    func release(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws
    /// Does the datastore answer? (STATUS.)
    func ping(_ pool: PoolRef) throws
    /// True when the store holds this node's allocations only (GC may read them all).
    var isNodeLocal: Bool { get }
    /// When each allocation was made (Unix seconds; absent when unknown): reconcile's grace period.
    func creationTimes(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws -> [IPAddress: Int64]
}

extension WhereaboutsStore {
    /// The records' own times.
    public func creationTimes(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws -> [IPAddress: Int64] {
        var out: [IPAddress: Int64] = [:]
        for (ip, a) in held where a.created > 0 { out[ip] = a.created }
        return out
    }
}

/// A range as a datastore names it.
public struct PoolRef: Sendable {
    public let range: PoolRange
    public let networkName: String
    public let overlapping: Bool

    public init(range: PoolRange, networkName: String, overlapping: Bool) {
        (self.range, self.networkName, self.overlapping) = (range, networkName, overlapping)
    }

    public var name: String { range.poolName(networkName: networkName) }
    public func reservationName(_ ip: IPAddress) -> String { PoolRange.reservationName(ip, networkName: networkName) }
}

/// What a datastore answers when asked for an overlapping-range reservation.
public enum ReservationClaim: Sendable, Equatable {
    case claimed
    case alreadyOurs
    /// `justNow`: the reservation was made moments ago (a writer racing for the same address,
    /// rather than an overlapping range's long-standing one).
    case heldByOther(podRef: String, justNow: Bool = false)
}

/// A datastore that keeps a pool as one document, read whole and written back as the changes to
/// it, with optimistic concurrency (the Kubernetes datastore: each change tested against what
/// was read) or a lock (the file store), and
/// overlapping-range reservations as objects of their own. The ADD/DEL logic over it is shared.
package protocol DocumentBackend: WhereaboutsStore {
    /// Reads the pool, runs `body` on it and writes the result if it changed — atomically with
    /// respect to every other writer; `body` may run again when another writer came first.
    func transact<T>(_ pool: PoolRef, _ body: (inout PoolDocument) throws -> T) throws -> T
    /// Creates the reservation for the owner unless it exists.
    func claim(_ name: String, for owner: IPAllocation) throws -> ReservationClaim
    /// Deletes the reservation if `podRef` holds it.
    func unclaim(_ name: String, podRef: String) throws
}

extension DocumentBackend {
    /// The reservation is taken before the pool is written, so a crash in between leaves at
    /// most a reservation without an allocation (freed by reconcile), never an address held in
    /// one range that an overlapping range could hand out again. A reservation made for an
    /// attempt that lost its race is given back.
    ///
    /// Contention (a cluster datastore: another writer wrote the pool first, or took the address
    /// we chose moments ago): the address whose reservation this ADD already won is kept while
    /// the pool still has it free, and any other search starts at a random place instead of the
    /// lowest free address — where every concurrent writer would look, all but one losing again
    /// (8 writers on one pool made 3.7 reservation attempts per ADD). Without contention (an
    /// overlapping range's older reservation) the search goes on upward, as upstream's.
    public func allocate(_ owner: IPAllocation, in pool: PoolRef) throws -> IPAddress {
        var heldElsewhere = Set<UInt128>()
        var claimed: [String] = []
        var won: UInt128?
        var contended = false
        var runs = 0
        do {
            let ip: IPAddress = try transact(pool) { doc in
                runs += 1
                if runs > 1 && !isNodeLocal { contended = true }
                while true {
                    let (ip, existing) = try PoolDecision.allocate(&doc, range: pool.range, owner: owner, heldElsewhere: heldElsewhere,
                                                                   preferring: won, randomStart: contended)
                    guard pool.overlapping, !existing else { return ip }
                    let name = pool.reservationName(ip)
                    let off = pool.range.offset(of: ip)!
                    if claimed.contains(name) { won = off; return ip }
                    switch try claim(name, for: owner) {
                    case .claimed: claimed.append(name); won = off; return ip
                    case .alreadyOurs: won = off; return ip
                    case .heldByOther(_, let justNow):
                        doc[off] = nil
                        heldElsewhere.insert(off)
                        if justNow { contended = true }
                    }
                }
            }
            for name in claimed where name != pool.reservationName(ip) { try? unclaim(name, podRef: owner.podRef) }
            return ip
        } catch {
            for name in claimed { try? unclaim(name, podRef: owner.podRef) }
            throw error
        }
    }

    public func release(containerID: String, ifName: String, podRef: String, in pool: PoolRef) throws -> [IPAddress] {
        let released = try transact(pool) { doc in
            PoolDecision.release(&doc, range: pool.range, containerID: containerID, ifName: ifName)
        }
        if pool.overlapping {
            for (ip, a) in released { try unclaim(pool.reservationName(ip), podRef: a.podRef) }
        }
        return released.map(\.0)
    }

    public func release(_ held: [(IPAddress, IPAllocation)], in pool: PoolRef) throws {
        let released: [(IPAddress, IPAllocation)] = try transact(pool) { doc in
            var out: [(IPAddress, IPAllocation)] = []
            for (ip, a) in held {
                guard let off = pool.range.offset(of: ip), doc[off] == a else { continue }
                doc[off] = nil
                out.append((ip, a))
            }
            return out
        }
        if pool.overlapping {
            for (ip, a) in released { try unclaim(pool.reservationName(ip), podRef: a.podRef) }
        }
    }

    public func allocations(in pool: PoolRef) throws -> [(IPAddress, IPAllocation)] {
        let doc = try transact(pool) { $0 }
        return doc.allocations.compactMap { off, a in pool.range.address(at: off).map { ($0, a) } }.sorted { $0.0 < $1.0 }
    }
}

/// The pause before a writer that lost a race on a pool tries again (Kubernetes and etcd datastores).
package enum Backoff {
    /// Random, growing with the attempt (2–10 ms after the first loss, up to 8–40 ms with the
    /// default `base`, µs): writers that collided do not collide again.
    package static func pause(_ attempt: Int, base: UInt32 = 5_000) {
        let ceiling = min(40_000, base * (1 << UInt32(min(attempt, 3))))
        usleep(UInt32.random(in: (ceiling / 5)...ceiling))
    }
}
