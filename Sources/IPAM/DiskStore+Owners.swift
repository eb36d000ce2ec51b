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
///
/// A listing still reads every name: ~8,000 in a /20 at 99.5 %, where the kernel's readdir of
/// them was two thirds of an ADD (5.6 of 7.8 ms; the nearly empty pool's ADD takes 2.2). So a
/// large pool (`largeDirectory`) also gets an index by owner: `.owner-index/<hash>`, a symbolic
/// link whose target lists the addresses (`10.1.2.3,fd00::5`) — built from the markers by the
/// first consistent listing, kept by every reservation and release, dropped whenever markers
/// are repaired (rebuilt by the next listing). With it an ADD reads its owner's entry (the
/// duplicate check, confirmed from the files it names) and asks for each candidate address
/// whether its file exists, and a DEL releases what the entry names: no listing. What the index
/// cannot know is a reservation the reference made after it was built: such an attachment's DEL
/// finds no entry and lists as before (repairing, so dropping the index); a second ADD of it
/// (no runtime does that: the reference refuses it) is not refused. The reference ignores the
/// directory (its walks read files and compare contents; a link's target is no reservation).
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
        /// Every marker's (owner key, address), when asked for (building the index).
        var markers: [(key: String, ip: IPAddress)] = []
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

    func listing(keys: [String] = [], collectingMarkers: Bool = false) throws(IPAMError) -> Listing {
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
                    if collectingMarkers { l.markers.append((String(decoding: key, as: UTF8.self), ip)) }
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
        dropIndex()   // it may name what the markers did not; the next consistent listing rebuilds it
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

    public func allocationView(containerID: String, ifName: String) throws(IPAMError) -> AllocationView {
        guard let key = Self.ownerKey(.attachment(containerID: containerID, ifName: ifName)),
              let legacy = Self.ownerKey(.legacy(containerID: containerID)) else { return try slowAllocationView(containerID, ifName) }
        let owns = { (ip: IPAddress) in self.recordedOwner(ip)?.matches(containerID: containerID, ifName: ifName) == true }
        let large = isLarge
        if large, hasIndex {
            // The index's entries, confirmed from the files they name; a candidate address is
            // taken when its file has content (an empty leftover is for `reserve` to take over).
            let held = indexed(key).filter(owns) + indexed(legacy).filter(owns)
            return AllocationView(held: held) { [directory] ip in (FileSystem.size(directory + "/" + ip.description) ?? 0) > 0 }
        }
        let l = try listing(keys: [key, legacy], collectingMarkers: large)
        // What the markers say is confirmed from the files they name (a reservation the
        // reference released and re-created for another owner keeps our old marker).
        let held = l.held[0] + l.held[1]
        if l.consistent, held.allSatisfy(owns) {
            if large { buildIndex(l.markers) }
            var taken = Set<IPAddress>(minimumCapacity: l.addresses.count)
            for a in l.addresses { taken.insert(a) }
            return AllocationView(held: held, taken: taken)
        }
        return try slowAllocationView(containerID, ifName)
    }

    func slowAllocationView(_ containerID: String, _ ifName: String) throws(IPAMError) -> AllocationView {
        let all = try reservationsRepairingMarkers()
        return AllocationView(held: all.filter { $0.owner.matches(containerID: containerID, ifName: ifName) }.map(\.ip),
                              taken: Set(all.lazy.filter { $0.owner != .nobody }.map(\.ip)))
    }

    /// Releases every address of (containerID, ifName) — when none is recorded that way, the
    /// container's legacy records (the reference's ReleaseByID). From the markers when they are
    /// consistent and name some; otherwise by reading every file (a DEL of what the reference
    /// added, a second DEL).
    @discardableResult
    public func releaseAll(containerID: String, ifName: String) throws(IPAMError) -> [IPAddress] {
        let owner = Owner.attachment(containerID: containerID, ifName: ifName)
        if let key = Self.ownerKey(owner), isLarge, hasIndex {
            let listed = indexed(key)
            let mine = listed.filter { recordedOwner($0) == owner }
            if !mine.isEmpty {
                for ip in mine { try release(ip, markers: [Self.markerName(key, ip)]) }
                // What is left named someone else's address or none — unless its file could not
                // be read just now: that one stays for the next DEL.
                try? index(key, replacingWith: listed.filter {
                    !mine.contains($0) && recordedOwner($0) == nil && FileSystem.exists(path($0.description))
                })
                return mine
            }
            // Nothing indexed: a reservation the reference made, or none; the listing tells.
        }
        let legacyOwner = Owner.legacy(containerID: containerID)
        if let key = Self.ownerKey(owner), let legacy = Self.ownerKey(legacyOwner) {
            let l = try listing(keys: [key, legacy])
            if l.consistent {
                let mine = l.held[0], old = l.held[1]
                if !mine.isEmpty, mine.allSatisfy({ recordedOwner($0) == owner }) {
                    for ip in mine { try release(ip, markers: [Self.markerName(key, ip)]) }
                    return mine
                }
                // Every file has its marker: none of this owner's is unmarked (a second DEL, a
                // DEL after a failed ADD — nothing to repair, and the index stays).
                if mine.isEmpty && old.isEmpty { return [] }
                if mine.isEmpty, old.allSatisfy({ recordedOwner($0) == legacyOwner }) {
                    for ip in old { try release(ip, markers: [Self.markerName(legacy, ip)]) }
                    return old
                }
            }
        }
        let all = try reservationsRepairingMarkers()
        var mine = all.filter { $0.owner == owner }
        if mine.isEmpty { mine = all.filter { $0.owner == legacyOwner } }
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
        for m in markers {
            try? FileSystem.remove(path(m))
            // ".owner-<key>-<ip>": the key's index entry forgets the address (a failure leaves a
            // stale entry, which is confirmed against the file before anything believes it).
            let key = String(m.dropFirst(Self.markerPrefix.count).prefix(32))
            try? index(key, removing: ip)
        }
    }

    // MARK: The owner index of large pools

    static let indexName = ".owner-index"
    var indexDirectory: String { path(Self.indexName) }
    var isLarge: Bool { (FileSystem.size(directory) ?? 0) > largeDirectory }
    var hasIndex: Bool {
        if let known = indexPresent { return known }
        let present = FileSystem.isDirectory(indexDirectory)
        indexPresent = present
        return present
    }

    /// What the index names for `key` (unconfirmed); empty without an entry or an index.
    func indexed(_ key: String) -> [IPAddress] {
        guard let target = try? FileSystem.readLink(indexDirectory + "/" + key) else { return [] }
        return target.split(separator: ",").compactMap { IPAddress(String($0)) }
    }

    /// Sets `key`'s entry (none for an empty list), when there is an index.
    func index(_ key: String, replacingWith ips: [IPAddress]) throws(SystemError) {
        guard hasIndex else { return }
        let link = indexDirectory + "/" + key
        if ips.isEmpty { try FileSystem.remove(link) } else {
            try FileSystem.replaceSymbolicLink(link, to: ips.map(\.description).joined(separator: ","))
        }
    }
    /// True when the entry did not name `ip` before.
    @discardableResult
    func index(_ key: String, adding ip: IPAddress) throws(SystemError) -> Bool {
        guard hasIndex else { return false }
        let now = indexed(key)
        if now.contains(ip) { return false }
        if now.isEmpty {
            // A new entry, made whole by one symlink(2) (a rename in a directory of thousands costs more).
            let link = indexDirectory + "/" + key
            try FileSystem.remove(link)   // an unreadable one
            try FileSystem.symbolicLink(link, to: ip.description)
        } else {
            try index(key, replacingWith: now + [ip])
        }
        return true
    }
    func index(_ key: String, removing ip: IPAddress) throws(SystemError) {
        guard hasIndex else { return }
        let now = indexed(key)
        if now.contains(ip) { try index(key, replacingWith: now.filter { $0 != ip }) }
    }

    /// The index from a consistent listing's markers, made beside and renamed into place: a
    /// crash leaves no half index. Best effort: without it, the listing goes on answering.
    func buildIndex(_ markers: [(key: String, ip: IPAddress)]) {
        var byKey: [String: [String]] = [:]
        for m in markers { byKey[m.key, default: []].append(m.ip.description) }
        let temp = indexDirectory + ".new"
        Self.removeIndexDirectory(temp)   // a crashed build's
        Self.removeIndexDirectory(indexDirectory + ".old")   // a crashed drop's
        do {
            try FileSystem.makeDirectories(temp)
            for (key, ips) in byKey { try FileSystem.symbolicLink(temp + "/" + key, to: ips.joined(separator: ",")) }
            try FileSystem.rename(temp, indexDirectory)
            indexPresent = true
        } catch {
            Self.removeIndexDirectory(temp)
        }
    }

    /// Renamed away first, then emptied: a crash half-way leaves no partial index in place.
    func dropIndex() {
        guard hasIndex else { return }
        let old = indexDirectory + ".old"
        Self.removeIndexDirectory(old)   // a crashed drop's
        if (try? FileSystem.rename(indexDirectory, old)) != nil {
            indexPresent = false
            Self.removeIndexDirectory(old)
        }
    }

    static func removeIndexDirectory(_ dir: String) {
        guard FileSystem.isDirectory(dir) else { return }
        for name in (try? FileSystem.list(dir)) ?? [] { try? FileSystem.remove(dir + "/" + name) }
        try? FileSystem.removeDirectory(dir)
    }
}
