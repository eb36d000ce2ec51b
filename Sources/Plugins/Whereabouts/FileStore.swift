import CNI
import Glibc
import IPAM
import IPAddressing
import LinuxSystem

/// The embedded datastore: whereabouts on one node (or in tests) without any server.
///   <dataDir>/pools/<pool>            every allocation of a pool, one line each:
///                                     "<offset>\t<containerID>\t<podRef>\t<ifName>\t<created>"
///   <dataDir>/pools/<pool>.lock       flock'ed around each read-decide-write of the pool
///   <dataDir>/reservations/<name>     an overlapping-range reservation: "<podRef>\t<ifName>"
/// The pool file is replaced atomically (temporary file, fsync, rename): a writer killed at any
/// point leaves the old pool or the new one. Reservations appear atomically with their content
/// (temporary file linked to the name, which fails when taken).
public final class FileStore: DocumentBackend {
    public let directory: String
    static let header = "swift-cni whereabouts pool v1 "

    public init(dataDir: String) throws(CNIError) {
        directory = dataDir.hasSuffix("/") ? String(dataDir.dropLast()) : dataDir
        do {
            try FileSystem.makeDirectories(directory + "/pools", mode: 0o700)
            try FileSystem.makeDirectories(directory + "/reservations", mode: 0o700)
        } catch {
            throw CNIError(.systemFailure, "whereabouts: the data directory \(directory) is not usable", details: error.description)
        }
    }

    public var isNodeLocal: Bool { true }

    func poolPath(_ pool: PoolRef) -> String { directory + "/pools/" + pool.name }

    func transact<T>(_ pool: PoolRef, _ body: (inout PoolDocument) throws -> T) throws -> T {
        let path = poolPath(pool)
        let lock = try FileLock.acquire(path + ".lock")
        defer { FileLock.release(lock) }
        let old = try read(path, range: pool.range.cidr)
        var doc = old
        let out = try body(&doc)
        if doc != old { try FileSystem.writeAtomically(path, Self.encode(doc), mode: 0o600, durable: true) }
        return out
    }

    func read(_ path: String, range: String) throws -> PoolDocument {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path) } catch {
            if error.isNotFound { return PoolDocument(range: range) }
            throw error
        }
        return try Self.decode(bytes, path: path, range: range)
    }

    static func encode(_ doc: PoolDocument) -> [UInt8] {
        var out = header + doc.range + "\n"
        for (off, a) in doc.allocations.sorted(by: { $0.key < $1.key }) {
            out += String(off) + "\t" + a.containerID + "\t" + a.podRef + "\t" + a.ifName + "\t" + String(a.created) + "\n"
        }
        return Array(out.utf8)
    }

    /// A pool file that is not ours, or of another range, is an error rather than an empty
    /// pool: treating it as empty would hand out addresses twice.
    static func decode(_ bytes: [UInt8], path: String, range: String) throws(CNIError) -> PoolDocument {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        guard let first = lines.first, String(decoding: first, as: UTF8.self) == header + range else {
            throw CNIError(.systemFailure, "whereabouts: \(path) is not a pool file of range \(range)")
        }
        var doc = PoolDocument(range: range)
        for line in lines.dropFirst() {
            let f = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard f.count == 5, let off = UInt128(String(decoding: f[0], as: UTF8.self)),
                  let created = Int64(String(decoding: f[4], as: UTF8.self)) else {
                throw CNIError(.systemFailure, "whereabouts: \(path) has a malformed line", details: String(decoding: line, as: UTF8.self))
            }
            doc.allocations[off] = IPAllocation(containerID: String(decoding: f[1], as: UTF8.self),
                                                podRef: String(decoding: f[2], as: UTF8.self),
                                                ifName: String(decoding: f[3], as: UTF8.self), created: created)
        }
        return doc
    }

    func reservationPath(_ name: String) -> String { directory + "/reservations/" + name }

    func claim(_ name: String, podRef: String, ifName: String) throws -> ReservationClaim {
        let target = reservationPath(name)
        let temp = reservationPath(".claim-\(getpid())-" + name)
        defer { try? FileSystem.remove(temp) }
        try FileSystem.writeNew(temp, Array((podRef + "\t" + ifName).utf8))
        while true {
            if try FileSystem.hardLink(temp, target) { return .claimed }
            guard let holder = try? FileSystem.read(target) else { continue }  // released meanwhile: try again
            let ref = String(decoding: holder.prefix { $0 != UInt8(ascii: "\t") }, as: UTF8.self)
            return ref == podRef ? .alreadyOurs : .heldByOther(podRef: ref)
        }
    }

    func unclaim(_ name: String, podRef: String) throws {
        let target = reservationPath(name)
        guard let holder = try? FileSystem.read(target) else { return }
        if String(decoding: holder.prefix { $0 != UInt8(ascii: "\t") }, as: UTF8.self) == podRef {
            try FileSystem.remove(target)
        }
    }

    /// GC's sweep of what killed writers left: reservations no pool allocation backs (an ADD
    /// killed between taking the reservation and writing its pool), and temporary files of
    /// processes that are gone. Every pool's lock is held meanwhile (in name order; an ADD holds
    /// one at a time), so no ADD is between its two steps.
    public func sweep() throws {
        let names = try FileSystem.list(directory + "/pools").sorted()
        var locks: [Int32] = []
        defer { locks.forEach(FileLock.release) }
        for name in names where name.hasSuffix(".lock") { locks.append(try FileLock.acquire(directory + "/pools/" + name)) }
        var backed = Set<String>()
        for name in names where !name.hasSuffix(".lock") && !name.contains(".tmp-") {
            guard let bytes = try? FileSystem.read(directory + "/pools/" + name),
                  let first = bytes.split(separator: UInt8(ascii: "\n")).first else { continue }
            let range = String(decoding: first, as: UTF8.self).dropFirst(Self.header.count)
            guard let subnet = IPPrefix(range), let r = try? PoolRange(subnet: subnet),
                  let doc = try? Self.decode(bytes, path: name, range: r.cidr) else { continue }
            let suffix = PoolRange.normalize(r.cidr)
            let networkName = name == suffix ? "" : String(name.dropLast(suffix.count + 1))
            for off in doc.allocations.keys { if let ip = r.address(at: off) { backed.insert(PoolRange.reservationName(ip, networkName: networkName)) } }
        }
        for name in try FileSystem.list(directory + "/reservations") {
            if name.hasPrefix(".claim-") {
                if Self.writerIsGone(name.dropFirst(".claim-".count)) { try FileSystem.remove(reservationPath(name)) }
            } else if !backed.contains(name) {
                try FileSystem.remove(reservationPath(name))
            }
        }
        for name in names where name.contains(".tmp-") {
            if let r = name.range(of: ".tmp-"), Self.writerIsGone(name[r.upperBound...]) { try FileSystem.remove(directory + "/pools/" + name) }
        }
    }

    /// "<pid>…" names a process that no longer exists.
    static func writerIsGone(_ text: Substring) -> Bool {
        guard let pid = Int32(text.prefix { $0.isNumber }) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    public func ping(_ pool: PoolRef) throws {
        guard access(directory + "/pools", W_OK) == 0 else {
            throw SystemError("access", subject: directory + "/pools")
        }
    }
}
