import Basics
import CNI
import Glibc
import IPAddressing
import LinuxSystem

/// host-local's on-disk store, laid out exactly as the reference's so a node upgrades in place
/// and both implementations can share one directory:
///   <dataDir>/<network>/lock                  flock'ed (exclusive) around every operation
///   <dataDir>/<network>/<ip>                  "<containerID>\r\n<ifname>" (legacy: "<containerID>")
///   <dataDir>/<network>/last_reserved_ip.<N>  the last address handed out from range set N
///   <dataDir>/<network>/.owner-<hash>-<ip>    ours: a hard link of each reservation, named by its owner (DiskStore+Owners)
///   <dataDir>/<network>/.owner-index/<hash>   ours, large pools only: a symbolic link to "<ip>[,<ip>…]" (DiskStore+Owners)
/// A reservation appears atomically with its content (written to a temporary file, then
/// `link`ed to the address's name, which fails if taken), so a writer killed mid-way never
/// leaves an empty file that blocks the address (the reference's plugins#498). Empty files such
/// a reference writer left are taken over, since under the lock nobody can be writing them.
public final class DiskStore: AddressStore {
    public static let defaultDataDir = "/var/lib/cni/networks"
    static let tempPrefix = ".reserving-"

    public let directory: String
    /// The directory size (st_size, which ext4 never shrinks) above which ADD and DEL answer from
    /// the owner index instead of a listing (DiskStore+Owners): about 600 reservations.
    var largeDirectory: Int64 = 32 * 1024
    /// Whether the owner index exists, learnt once per locked operation (nobody else builds or
    /// drops it while we hold the lock): one stat per ADD or DEL, not one per address.
    var indexPresent: Bool?

    /// Opens (creating) the network's directory. Network names that could leave the data
    /// directory are refused.
    public init(dataDir: String, network: String) throws(IPAMError) {
        guard !network.isEmpty, network != ".", network != "..", !network.contains("/"), !network.contains("\0") else {
            throw .invalidConfig("invalid network name \"\(network)\" for a data directory")
        }
        directory = (dataDir.hasSuffix("/") ? dataDir : dataDir + "/") + network
        do { try FileSystem.makeDirectories(directory, mode: 0o755) } catch { throw .store(error) }
    }

    func path(_ name: String) -> String { directory + "/" + name }

    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd: Int32
        do { fd = try FileLock.acquire(path("lock")) } catch { throw IPAMError.store(error) }
        defer { close(fd); indexPresent = nil }  // closing drops the flock
        indexPresent = nil
        return try body()
    }

    public func reserve(_ ip: IPAddress, containerID: String, ifName: String, rangeID: Int) throws(IPAMError) -> Bool {
        let target = path(ip.description)
        let temp = path("\(Self.tempPrefix)\(getpid())-\(ip.description)")
        let content = Array("\(containerID.trimmingWhitespace)\r\n\(ifName)".utf8)
        let key = Self.ownerKey(Self.owner(of: content))
        let marker = key.map { path(Self.markerName($0, ip)) }
        var linked = false, indexed = false
        /// Undoes what was done when the reservation is not made (the index entry may name an
        /// address that is not ours for a moment: entries are confirmed against the file).
        func undo() {
            if let marker { try? FileSystem.remove(marker) }
            if linked { try? FileSystem.remove(target) }
            if indexed, let key { try? index(key, removing: ip) }
        }
        defer { try? FileSystem.remove(temp) }
        do {
            try FileSystem.writeNew(temp, content)
            // In a large pool, the owner's index entry first: a process killed after the file
            // is made leaves an entry naming it, which DEL then finds and releases.
            if let key { indexed = try index(key, adding: ip) }
            if try !FileSystem.hardLink(temp, target) {
                // Taken — unless it is an empty leftover of a crashed writer.
                guard let existing = try? FileSystem.read(target),
                      existing.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
                    if indexed, let key { try? index(key, removing: ip) }
                    return false
                }
                try FileSystem.rename(temp, target)
            }
            linked = true
            // Its owner marker, a link of it (DiskStore+Owners), so that later operations need not read it.
            if let marker, try !FileSystem.hardLink(target, marker) {
                try FileSystem.remove(marker)   // a stale one: the address was released behind our back
                _ = try FileSystem.hardLink(target, marker)
            }
            // A hint for the next allocation (a torn write only loses it): rewritten in place, as
            // the reference does, but never truncated to zero (FileSystem.overwrite); created
            // atomically the first time.
            let hint = path("last_reserved_ip.\(rangeID)"), bytes = Array(ip.description.utf8)
            if try !FileSystem.overwrite(hint, bytes) { try FileSystem.writeAtomically(hint, bytes, mode: 0o644, durable: false) }
        } catch {
            undo()
            throw .store(error)
        }
        return true
    }

    public func lastReserved(rangeID: Int) -> IPAddress? {
        guard let bytes = try? FileSystem.read(path("last_reserved_ip.\(rangeID)")) else { return nil }
        return IPAddress(String(decoding: bytes, as: UTF8.self).trimmingWhitespace)
    }

    public func reservations() throws(IPAMError) -> [Reservation] {
        let names: [String]
        do { names = try FileSystem.list(directory) } catch { throw .store(error) }
        removeAbandoned(names.filter { $0.hasPrefix(Self.tempPrefix) })
        var out: [Reservation] = []
        for name in names {
            guard let ip = IPAddress(name), ip.description == name,
                  let bytes = try? FileSystem.readSmall(path(name)) else { continue }
            out.append(Reservation(ip: ip, owner: Self.owner(of: bytes)))
        }
        return out.sorted { $0.ip < $1.ip }
    }

    static func owner(of bytes: [UInt8]) -> Owner {
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        if text.isEmpty { return .nobody }
        // "\r\n" is one Character in Swift.
        if let sep = text.firstIndex(of: "\r\n") {
            return .attachment(containerID: String(text[..<sep]), ifName: String(text[text.index(after: sep)...]))
        }
        return .legacy(containerID: text)
    }

    /// The reservation and whatever markers name it.
    public func release(_ ip: IPAddress) throws(IPAMError) {
        let suffix = Array(("-" + ip.description).utf8), prefix = Self.markerPrefixBytes
        var markers: [String] = []
        try? FileSystem.forEachName(directory) { name in
            if name.starts(with: prefix), name.count > suffix.count, name[(name.count - suffix.count)...].elementsEqual(suffix) {
                markers.append(String(decoding: name, as: UTF8.self))
            }
        }
        try release(ip, markers: markers)
    }

    /// Temporary files of writers that died (their PID is gone): found by every listing.
    func removeAbandoned(_ temporaries: [String]) {
        for name in temporaries {
            let pidText = name.dropFirst(Self.tempPrefix.count).prefix { $0 != "-" }
            if let pid = Int32(pidText), kill(pid, 0) != 0, errno == ESRCH { try? FileSystem.remove(path(name)) }
        }
    }
}
