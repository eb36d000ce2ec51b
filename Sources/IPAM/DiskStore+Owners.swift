import Basics
import IPAddressing
import LinuxSystem

/// Owner markers: beside every reservation file, DiskStore keeps a hard link to it named
/// `.owner-<hash of the owner>-<ip>`, so the directory listing alone tells who holds what. An
/// ADD or DEL on a full pool then reads no reservation file (the reference reads every one, and
/// so did we: 4,000 opens per ADD on a /20 at 99.5 %). The reference skips these names (they are
/// no addresses) and, releasing an owner, removes them with the file (same content). Being links,
/// a marker and its file share an inode: a reservation the reference released and made again
/// for another owner is a new inode, which the listing sees. Whenever the listing is not
/// exactly one marker per reservation, on the same inode — files the reference wrote, an empty
/// leftover of a crashed writer, a crash between the two names — every file is read as before
/// and the markers are repaired, so a directory the reference filled is fast from the next
/// operation on.
extension DiskStore {
    static let markerPrefix = ".owner-"

    static func ownerKey(_ owner: Owner) -> String? {
        switch owner {
        case .attachment(let c, let i): return String(SHA512.hex("a\u{0}" + c + "\u{0}" + i).prefix(32))
        case .legacy(let c): return String(SHA512.hex("l\u{0}" + c).prefix(32))
        case .nobody: return nil
        }
    }

    static func markerName(_ key: String, _ ip: IPAddress) -> String { markerPrefix + key + "-" + ip.description }
    static let markerPrefixBytes = Array(markerPrefix.utf8)

    /// One directory read, for the attachment a caller asks about: every reservation file's
    /// address, every address a marker names, and what the markers of `keys` name. Names are
    /// taken as bytes and nothing is hashed: a full pool has thousands. Abandoned temporaries of
    /// killed writers found on the way are removed.
    struct Listing {
        var addresses: [IPAddress] = []
        var fileSum: UInt64 = 0, fileXor: UInt64 = 0
        /// The (address, inode) pairs of the markers, as a count and two order-independent sums
        /// of a 64-bit mix of each (equal multisets give equal sums; unequal ones collide with
        /// odds of about 2^-64); the files' pairs are summed the same way.
        var markerCount = 0
        var markerSum: UInt64 = 0, markerXor: UInt64 = 0
        /// For each key asked about, the addresses its markers name.
        var held: [[IPAddress]]
        var temporaries: [String] = []
        var unreadable = false

        /// Exactly one marker per reservation file, none for anything else.
        var consistent: Bool {
            !unreadable && addresses.count == markerCount && fileSum == markerSum && fileXor == markerXor
        }

        /// splitmix64's finaliser over the address's value and family.
        static func mix(_ a: IPAddress, _ inode: UInt64) -> UInt64 {
            var z = UInt64(truncatingIfNeeded: a.value) ^ UInt64(truncatingIfNeeded: a.value >> 64).multipliedReportingOverflow(by: 0x9E37_79B9_7F4A_7C15).partialValue
            z ^= (a.family == .v4 ? 0x5555 : 0xAAAA) ^ inode.multipliedReportingOverflow(by: 0xD6E8_FEB8_6659_FD93).partialValue
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func addMarker(_ ip: IPAddress, _ inode: UInt64) {
            let h = Listing.mix(ip, inode)
            markerCount += 1
            markerSum &+= h
            markerXor ^= h
        }
        mutating func addFile(_ ip: IPAddress, _ inode: UInt64) {
            let h = Listing.mix(ip, inode)
            addresses.append(ip)
            fileSum &+= h
            fileXor ^= h
        }
    }

    func listing(keys: [String] = []) throws(IPAMError) -> Listing {
        var l = Listing(held: keys.map { _ in [] })
        let prefix = Self.markerPrefixBytes, temp = Array(Self.tempPrefix.utf8)
        let wanted = keys.map { Array($0.utf8) }
        do {
            try FileSystem.forEachEntry(directory) { name, inode in
                if name.count > prefix.count + 33, name.starts(with: prefix) {
                    let keyEnd = prefix.count + 32
                    guard name[keyEnd] == UInt8(ascii: "-"),
                          let ip = IPAddress(utf8: UnsafeBufferPointer(rebasing: name[(keyEnd + 1)...])) else {
                        l.unreadable = true
                        return
                    }
                    l.addMarker(ip, inode)
                    let key = name[prefix.count..<keyEnd]
                    for (i, w) in wanted.enumerated() where key.elementsEqual(w) { l.held[i].append(ip) }
                } else if name.starts(with: temp) {
                    l.temporaries.append(String(decoding: name, as: UTF8.self))
                } else if name.first != UInt8(ascii: "."), let ip = IPAddress(utf8: name),
                          ip.family == .v4 || ip.description.utf8.elementsEqual(name) {
                    l.addFile(ip, inode)
                }
            }
        } catch { throw .store(error) }
        removeAbandoned(l.temporaries)
        return l
    }

    /// The owner the file of `ip` records (one small read).
    func recordedOwner(_ ip: IPAddress) -> Owner? {
        (try? FileSystem.readSmall(path(ip.description))).map(Self.owner(of:))
    }

    /// Every reservation, read file by file, with the markers made to match them (the slow
    /// path: a directory the reference wrote to, or a crash between the two files).
    func reservationsRepairingMarkers() throws(IPAMError) -> [Reservation] {
        let all = try reservations()
        var wanted: [String: String] = [:]   // marker → the file it must be a link of
        for r in all { if let key = Self.ownerKey(r.owner) { wanted[Self.markerName(key, r.ip)] = r.ip.description } }
        var inodes: [String: UInt64] = [:]
        try? FileSystem.forEachEntry(directory) { name, inode in
            if name.first == UInt8(ascii: ".") && !name.starts(with: Self.markerPrefixBytes) { return }
            inodes[String(decoding: name, as: UTF8.self)] = inode
        }
        for (marker, file) in wanted where inodes[marker] == nil || inodes[marker] != inodes[file] {
            try? FileSystem.remove(path(marker))
            _ = try? FileSystem.hardLink(path(file), path(marker))
        }
        for name in inodes.keys where name.hasPrefix(Self.markerPrefix) && wanted[name] == nil { try? FileSystem.remove(path(name)) }
        return all
    }

    public func allocationView(containerID: String, ifName: String) throws(IPAMError) -> (held: [IPAddress], taken: Set<IPAddress>) {
        if let key = Self.ownerKey(.attachment(containerID: containerID, ifName: ifName)),
           let legacy = Self.ownerKey(.legacy(containerID: containerID)) {
            let l = try listing(keys: [key, legacy])
            // What the markers say is confirmed from the files they name (a reservation the
            // reference released and re-created for another owner keeps our old marker).
            let held = l.held[0] + l.held[1]
            if l.consistent, held.allSatisfy({ recordedOwner($0)?.matches(containerID: containerID, ifName: ifName) == true }) {
                var taken = Set<IPAddress>(minimumCapacity: l.addresses.count)
                for a in l.addresses { taken.insert(a) }
                return (held, taken)
            }
        }
        let all = try reservationsRepairingMarkers()
        return (all.filter { $0.owner.matches(containerID: containerID, ifName: ifName) }.map(\.ip),
                Set(all.lazy.filter { $0.owner != .nobody }.map(\.ip)))
    }

    /// Releases every address of (containerID, ifName) — when none is recorded that way, the
    /// container's legacy records (the reference's ReleaseByID). From the markers when they are
    /// consistent and name some; otherwise by reading every file (a DEL of what the reference
    /// added, a second DEL).
    @discardableResult
    public func releaseAll(containerID: String, ifName: String) throws(IPAMError) -> [IPAddress] {
        let owner = Owner.attachment(containerID: containerID, ifName: ifName)
        if let key = Self.ownerKey(owner) {
            let l = try listing(keys: [key])
            let mine = l.held[0]
            if l.consistent, !mine.isEmpty, mine.allSatisfy({ recordedOwner($0) == owner }) {
                for ip in mine { try release(ip, markers: [Self.markerName(key, ip)]) }
                return mine
            }
        }
        let all = try reservationsRepairingMarkers()
        var mine = all.filter { $0.owner == owner }
        if mine.isEmpty { mine = all.filter { $0.owner == .legacy(containerID: containerID) } }
        for r in mine { try release(r) }
        return mine.map(\.ip)
    }

    /// A reservation read with its owner: its marker is named from that owner, no listing needed.
    public func release(_ r: Reservation) throws(IPAMError) {
        try release(r.ip, markers: Self.ownerKey(r.owner).map { [Self.markerName($0, r.ip)] } ?? [])
    }

    /// The reservation file, then its markers (a crash between leaves a marker the next
    /// listing finds inconsistent).
    func release(_ ip: IPAddress, markers: [String]) throws(IPAMError) {
        do { try FileSystem.remove(path(ip.description)) } catch { throw .store(error) }
        for m in markers { try? FileSystem.remove(path(m)) }
    }
}
