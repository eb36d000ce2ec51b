import Basics
import CNI
import Glibc
import IPAM
import IPAddressing
import LinuxSystem

/// The embedded datastore: whereabouts on one node (or in tests) without any server.
///   <dataDir>/pools/<pool>            the pool as a journal: a header line, then one line per
///                                     change: "+<offset>\t<containerID>\t<podRef>\t<ifName>\t<created>"
///                                     (allocated, or replaced) and "-<offset>" (released)
///   <dataDir>/pools/<pool>.lock       flock'ed around each read-decide-write of the pool
///   <dataDir>/reservations/<name>     an overlapping-range reservation: "<podRef>\t<ifName>"
/// A change appends its lines, so an ADD writes a few bytes however full the pool is; when the
/// journal holds more than twice the live allocations (+64) it is rewritten compactly (temporary
/// file, fsync, rename). A writer killed mid-append leaves a last line without its newline, which
/// readers ignore and the next writer cuts off. Reservations appear atomically with their content
/// (temporary file linked to the name, which fails when taken).
///
/// Appends are not synced (host-local's files are not either): the store holds this node's
/// attachments only, and what a power loss can take from it — the journal's last lines (ext4
/// and XFS grow a file's size only over written data; a stretch left as zeros, should a
/// filesystem do that, ends the journal like an unfinished line, what follows it cut off too) —
/// belongs to containers that the same power loss ended. A lost "+" line frees an address nobody
/// holds any more; a lost "-" line keeps one until GC or reconcile. An fdatasync per ADD cost
/// ~0.4 ms here, a third of it.
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

    package func transact<T>(_ pool: PoolRef, _ body: (inout PoolDocument) throws -> T) throws -> T {
        let path = poolPath(pool)
        let lock = try FileLock.acquire(path + ".lock")
        defer { FileLock.release(lock) }
        // Appending: writes go to the end (after the cut below) without a seek.
        let fd = try retryingEINTR("open", subject: path) { open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        let bytes = try FileSystem.readAll(fd: fd, subject: path, chunk: 65536)
        let (decoded, lines, complete) = try Self.decode(bytes, path: path, range: pool.range.cidr)
        // Moved, not copied: a second reference to the pool would make its first change copy
        // every record (at 99 % of a /22, an eighth of an ADD). The document remembers what it
        // changed.
        var doc = consume decoded
        let out = try body(&doc)
        let change = doc.changes()
        if change.isEmpty { return out }
        if lines + change.count > 2 * doc.allocations.count + 64 {
            try FileSystem.writeAtomically(path, Self.encode(doc), mode: 0o600, durable: true)
        } else {
            // No complete line yet (a new pool, or a first write that was torn): the header first.
            var tail: [UInt8] = complete == 0 ? Array((Self.header + doc.range + "\n").utf8) : []
            for (off, _, now) in change { tail += (now.map { Self.line(off, $0) } ?? "-" + String(off) + "\n").utf8 }
            // Cut off the incomplete line of a writer that was killed, then append. Not synced:
            // see the type's comment.
            if complete < bytes.count { try retryingEINTR("ftruncate", subject: path) { ftruncate(fd, off_t(complete)) } }
            try FileSystem.writeAll(fd: fd, tail, subject: path)
        }
        return out
    }

    /// The journal line of an allocation.
    static func line(_ off: UInt128, _ a: IPAllocation) -> String {
        "+" + String(off) + "\t" + a.containerID + "\t" + a.podRef + "\t" + a.ifName + "\t" + String(a.created) + "\n"
    }

    /// The compact form: the header and one "+" line per allocation.
    static func encode(_ doc: PoolDocument) -> [UInt8] {
        var out = header + doc.range + "\n"
        for (off, a) in doc.allocations.sorted(by: { $0.key < $1.key }) { out += line(off, a) }
        return Array(out.utf8)
    }

    /// Replays a journal: the pool, how many lines it has, and where its last complete line ends.
    /// An empty file is an empty pool; a file that is not ours, of another range, or with a
    /// malformed complete line is an error rather than an empty pool (that would hand out
    /// addresses twice). One pass over the bytes, no intermediate arrays: a full /22 is ~1,000
    /// lines, and every ADD reads them all.
    /// A NUL byte marks where a power loss left blocks unwritten (zeros): the journal ends at the
    /// last newline before it, and what follows is cut off like a killed writer's half line.
    static func decode(_ bytes: [UInt8], path: String, range: String) throws(CNIError) -> (doc: PoolDocument, lines: Int, complete: Int) {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        let complete = (bytes[..<end].lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
        if complete == 0 { return (PoolDocument(range: range), 0, 0) }
        let head = Array((header + range + "\n").utf8)
        guard complete >= head.count, bytes[0..<head.count].elementsEqual(head) else {
            throw CNIError(.systemFailure, "whereabouts: \(path) is not a pool file of range \(range)")
        }
        var allocations: [UInt128: IPAllocation] = [:]
        allocations.reserveCapacity((complete - head.count) / 32)  // a compact line is ~40 bytes
        var lines = 0
        let malformed: Range<Int>? = bytes.withUnsafeBufferPointer { b in
            var start = head.count
            while start < complete {
                var end = start
                while b[end] != UInt8(ascii: "\n") { end += 1 }
                if end > start {
                    guard apply(b, start, end, to: &allocations) else { return start..<end }
                    lines += 1
                }
                start = end + 1
            }
            return nil
        }
        if let malformed {
            throw CNIError(.systemFailure, "whereabouts: \(path) has a malformed line", details: String(decoding: bytes[malformed], as: UTF8.self))
        }
        return (PoolDocument(range: range, allocations: allocations), lines, complete)
    }

    /// Replays one line, b[start..<end]: "+<offset>\t<containerID>\t<podRef>\t<ifName>\t<created>"
    /// or "-<offset>"; false when it is neither.
    static func apply(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, to allocations: inout [UInt128: IPAllocation]) -> Bool {
        func number(_ from: Int, _ to: Int) -> UInt128? {
            guard from < to, to - from <= 39 else { return nil }
            if to - from <= 19 {   // below 10^19 < 2^64: no overflow, and 64-bit arithmetic (an IPv4 offset, a time)
                var n: UInt64 = 0
                for i in from..<to {
                    let d = b[i] &- UInt8(ascii: "0")
                    guard d < 10 else { return nil }
                    n = n &* 10 &+ UInt64(d)
                }
                return UInt128(n)
            }
            var n: UInt128 = 0
            for i in from..<to {
                let d = b[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt128(d))
                if o1 || o2 { return nil }
                n = s
            }
            return n
        }
        if b[start] == UInt8(ascii: "-") {
            guard let off = number(start + 1, end) else { return false }
            allocations[off] = nil
            return true
        }
        guard b[start] == UInt8(ascii: "+") else { return false }
        // The four tabs, and no fifth.
        var tabs = (0, 0, 0, 0), count = 0
        for i in (start + 1)..<end where b[i] == UInt8(ascii: "\t") {
            switch count {
            case 0: tabs.0 = i
            case 1: tabs.1 = i
            case 2: tabs.2 = i
            case 3: tabs.3 = i
            default: return false
            }
            count += 1
        }
        guard count == 4, let off = number(start + 1, tabs.0), let created = number(tabs.3 + 1, end),
              created <= UInt128(Int64.max) else { return false }
        func text(_ from: Int, _ to: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[(from + 1)..<to]), as: UTF8.self) }
        allocations[off] = IPAllocation(containerID: text(tabs.0, tabs.1), podRef: text(tabs.1, tabs.2),
                                        ifName: text(tabs.2, tabs.3), created: Int64(created))
        return true
    }

    func reservationPath(_ name: String) -> String { directory + "/reservations/" + name }

    package func claim(_ name: String, for owner: IPAllocation) throws -> ReservationClaim {
        let target = reservationPath(name)
        let temp = reservationPath(".claim-\(getpid())-" + name)
        defer { try? FileSystem.remove(temp) }
        let podRef = owner.podRef
        try FileSystem.writeNew(temp, Array((podRef + "\t" + owner.ifName).utf8))
        while true {
            if try FileSystem.hardLink(temp, target) { return .claimed }
            guard let holder = try? FileSystem.read(target) else { continue }  // released meanwhile: try again
            let ref = String(decoding: holder.prefix { $0 != UInt8(ascii: "\t") }, as: UTF8.self)
            return ref == podRef ? .alreadyOurs : .heldByOther(podRef: ref)
        }
    }

    package func unclaim(_ name: String, podRef: String) throws {
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
        for name in names where !name.hasSuffix(".lock") && !name.containsText(".tmp-") {
            guard let bytes = try? FileSystem.read(directory + "/pools/" + name),
                  let first = bytes.split(separator: UInt8(ascii: "\n")).first else { continue }
            let range = String(decoding: first, as: UTF8.self).dropFirst(Self.header.count)
            guard let subnet = IPPrefix(range), let r = try? PoolRange(subnet: subnet),
                  let doc = try? Self.decode(bytes, path: name, range: r.cidr).doc else { continue }
            guard let networkName = r.networkName(fromPoolName: name) else { continue }
            for off in doc.allocations.keys { if let ip = r.address(at: off) { backed.insert(PoolRange.reservationName(ip, networkName: networkName)) } }
        }
        for name in try FileSystem.list(directory + "/reservations") {
            if name.hasPrefix(".claim-") {
                if Self.writerIsGone(name.dropFirst(".claim-".count)) { try FileSystem.remove(reservationPath(name)) }
            } else if !backed.contains(name) {
                try FileSystem.remove(reservationPath(name))
            }
        }
        for name in names {
            if let r = name.firstRange(ofText: ".tmp-"), Self.writerIsGone(name[r.upperBound...]) {
                try FileSystem.remove(directory + "/pools/" + name)
            }
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
