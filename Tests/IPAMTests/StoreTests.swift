import CNI
import Foundation
@testable import IPAM
import IPAddressing
import Testing
import TestSupport

@Suite struct DiskStoreTests {
    @Test func layoutIsTheReferencesAndReservationsAreExclusive() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "net1")
        let results = try s.withLock {
            [try s.reserve(ip("10.0.0.2"), containerID: " ctr1 ", ifName: "eth0", rangeID: 0),
             try s.reserve(ip("10.0.0.2"), containerID: "ctr2", ifName: "eth0", rangeID: 0),
             try s.reserve(ip("2001:db8::5"), containerID: "ctr1", ifName: "eth0", rangeID: 1)]
        }
        #expect(results == [true, false, true])
        #expect(try d.read("net1/10.0.0.2") == "ctr1\r\neth0")
        #expect(try d.read("net1/2001:db8::5") == "ctr1\r\neth0")
        #expect(try d.read("net1/last_reserved_ip.0") == "10.0.0.2")
        #expect(s.lastReserved(rangeID: 1) == ip("2001:db8::5"))
        #expect(d.exists("net1/lock"))
        let names = try FileManager.default.contentsOfDirectory(atPath: d.file("net1")).sorted()
        #expect(names.filter { !$0.hasPrefix(".") } == ["10.0.0.2", "2001:db8::5", "last_reserved_ip.0", "last_reserved_ip.1", "lock"])
        // Ours besides: an empty owner marker per reservation, named by the owner's hash and the address.
        let key = try #require(DiskStore.ownerKey(.attachment(containerID: "ctr1", ifName: "eth0")))
        #expect(names.filter { $0.hasPrefix(".") } == [".owner-\(key)-10.0.0.2", ".owner-\(key)-2001:db8::5"])
        // A marker is a hard link of its reservation: same file, same inode.
        let a = try FileManager.default.attributesOfItem(atPath: d.file("net1/.owner-\(key)-10.0.0.2"))[.systemFileNumber] as? UInt64
        let b = try FileManager.default.attributesOfItem(atPath: d.file("net1/10.0.0.2"))[.systemFileNumber] as? UInt64
        #expect(a != nil && a == b)
    }

    @Test func emptyLeftoversAreTakenOverLegacyRecordsReleased() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        try d.write("n/10.0.0.3", "")             // a crashed reference writer (plugins#498)
        try d.write("n/10.0.0.4", "oldctr\n")     // an old host-local record
        try d.write("n/10.0.0.5", "c1\r\neth0\n") // trailing white space is ignored
        let owners = try s.withLock { try s.reservations().map(\.owner) }
        #expect(owners == [.nobody, .legacy(containerID: "oldctr"), .attachment(containerID: "c1", ifName: "eth0")])
        #expect(try s.withLock { try s.reserve(ip("10.0.0.3"), containerID: "c2", ifName: "eth0", rangeID: 0) })
        #expect(try s.withLock { try s.releaseAll(containerID: "oldctr", ifName: "net1") } == [ip("10.0.0.4")])
        #expect(try s.withLock { try s.releaseAll(containerID: "c1", ifName: "eth0") } == [ip("10.0.0.5")])
        #expect(try s.withLock { try s.releaseAll(containerID: "nobody", ifName: "eth0") }.isEmpty)
        #expect(try d.read("n/10.0.0.3") == "c2\r\neth0")
        #expect(!d.exists("n/10.0.0.4") && !d.exists("n/10.0.0.5"))
    }

    @Test func gcKeepsExactlyTheValid() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        try d.write("n/10.0.0.2", "keep\r\neth0")
        try d.write("n/10.0.0.3", "keep\r\nnet1")    // same container, other interface: not valid
        try d.write("n/10.0.0.4", "gone\r\neth0")
        try d.write("n/10.0.0.5", "keep")            // legacy record of a valid container
        try d.write("n/10.0.0.6", "")
        let released = try s.withLock { try s.releaseAllExcept([CNI.Attachment(containerID: "keep", ifname: "eth0")]) }
        #expect(released == ["10.0.0.3", "10.0.0.4", "10.0.0.6"].map(ip))
        #expect(try s.withLock { try s.reservations() }.map(\.ip) == ["10.0.0.2", "10.0.0.5"].map(ip))
    }

    @Test(arguments: ["..", ".", "a/b", ""])
    func networkNamesCannotEscape(name: String) throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        #expect(throws: IPAMError.self) { try DiskStore(dataDir: d.path, network: name) }
    }

    @Test func abandonedTemporariesAreCleaned() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        try d.write("n/.reserving-999999999-10.0.0.2", "x\r\ny")
        try d.write("n/.reserving-\(getpid())-10.0.0.3", "x\r\ny")
        // Every operation's listing sweeps them (here an ADD's view, then a full read).
        _ = try s.withLock { try s.allocationView(containerID: "c", ifName: "eth0") }
        #expect(!d.exists("n/.reserving-999999999-10.0.0.2"))
        #expect(d.exists("n/.reserving-\(getpid())-10.0.0.3"))
        try d.write("n/.reserving-999999998-10.0.0.4", "x\r\ny")
        _ = try s.withLock { try s.reservations() }
        #expect(!d.exists("n/.reserving-999999998-10.0.0.4"))
    }
}

/// An in-memory store for allocator tests.
final class MemoryStore: AddressStore {
    var held: [IPAddress: Owner] = [:]
    var last: [Int: IPAddress] = [:]
    func withLock<T>(_ body: () throws -> T) throws -> T { try body() }
    func reserve(_ ip: IPAddress, containerID: String, ifName: String, rangeID: Int) throws(IPAMError) -> Bool {
        guard held[ip] == nil else { return false }
        held[ip] = .attachment(containerID: containerID, ifName: ifName)
        last[rangeID] = ip
        return true
    }
    func lastReserved(rangeID: Int) -> IPAddress? { last[rangeID] }
    func reservations() throws(IPAMError) -> [Reservation] { held.map { Reservation(ip: $0.key, owner: $0.value) } }
    func release(_ ip: IPAddress) throws(IPAMError) { held[ip] = nil }
}

@Suite struct AllocatorTests {
    let set = try! RangeSet([try! IPRange(subnet: net("10.0.0.0/29"))])

    @Test func handsOutInOrderThenRunsOut() throws {
        let store = MemoryStore()
        let a = Allocator(rangeSet: set, rangeID: 0)
        var got: [String] = []
        for i in 0..<5 {
            let r = try a.allocate(in: store, containerID: "c\(i)", ifName: "eth0", requested: nil)
            #expect(r.gateway == ip("10.0.0.1") && r.address.length == 29)
            got.append(r.address.address.description)
        }
        #expect(got == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"])
        let e = #expect(throws: IPAMError.self) { try a.allocate(in: store, containerID: "c9", ifName: "eth0", requested: nil) }
        #expect(e == .exhausted("no IP addresses available in range set: 10.0.0.1-10.0.0.6"))
        #expect(e?.cniError.code == 110)
        // A released address is found again, after the last one handed out.
        try store.release(ip("10.0.0.3"))
        #expect(try a.allocate(in: store, containerID: "c9", ifName: "eth0", requested: nil).address.address == ip("10.0.0.3"))
    }

    @Test func duplicatesAndRequests() throws {
        let store = MemoryStore()
        let a = Allocator(rangeSet: set, rangeID: 0)
        _ = try a.allocate(in: store, containerID: "c1", ifName: "eth0", requested: nil)
        #expect(throws: IPAMError.self) { try a.allocate(in: store, containerID: "c1", ifName: "eth0", requested: nil) }
        #expect(try a.allocate(in: store, containerID: "c1", ifName: "net1", requested: ip("10.0.0.5")).address.description == "10.0.0.5/29")
        let taken = #expect(throws: IPAMError.self) { try a.allocate(in: store, containerID: "c2", ifName: "eth0", requested: ip("10.0.0.5")) }
        #expect(taken?.cniError.code == 111)
        let gw = #expect(throws: IPAMError.self) { try a.allocate(in: store, containerID: "c2", ifName: "eth0", requested: ip("10.0.0.1")) }
        #expect(gw == .unavailable("requested ip 10.0.0.1 is subnet's gateway"))
    }
}

/// Owner markers (DiskStore+Owners): what makes a full pool cheap, and what keeps it correct when
/// the reference writes to the same directory.
@Suite struct OwnerMarkerTests {
    func markers(_ d: TemporaryDirectory, _ net: String = "n") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: d.file(net)).filter { $0.hasPrefix(".owner-") }.sorted()
    }
    func key(_ c: String, _ i: String = "eth0") -> String { DiskStore.ownerKey(.attachment(containerID: c, ifName: i))! }

    @Test func aDirectoryTheReferenceFilledGetsItsMarkersOnTheFirstOperation() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        try d.write("n/10.0.0.2", "a\r\neth0")
        try d.write("n/10.0.0.3", "b\r\neth0")
        try d.write("n/10.0.0.4", "old")           // legacy
        #expect(try s.withLock { try s.listing() }.consistent == false)
        let view = try s.withLock { try s.allocationView(containerID: "b", ifName: "eth0") }
        #expect(view.held == [ip("10.0.0.3")])
        #expect(["10.0.0.2", "10.0.0.3", "10.0.0.4"].allSatisfy { view.isTaken(ip($0)) } && !view.isTaken(ip("10.0.0.5")))
        let legacy = DiskStore.ownerKey(.legacy(containerID: "old"))!
        #expect(try markers(d) == [".owner-\(key("a"))-10.0.0.2", ".owner-\(key("b"))-10.0.0.3", ".owner-\(legacy)-10.0.0.4"].sorted())
        #expect(try s.withLock { try s.listing() }.consistent)
        // From now on the markers answer, and releasing takes the marker with the file.
        #expect(try s.withLock { try s.releaseAll(containerID: "a", ifName: "eth0") } == [ip("10.0.0.2")])
        #expect(try s.withLock { try s.releaseAll(containerID: "old", ifName: "net1") } == [ip("10.0.0.4")])
        #expect(try markers(d) == [".owner-\(key("b"))-10.0.0.3"])
        #expect(try s.withLock { try s.listing() }.consistent)
    }

    @Test func aReservationTheReferenceRecreatedForAnotherOwnerIsNotReleasedByTheOldOne() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        #expect(try s.withLock { try s.reserve(ip("10.0.0.2"), containerID: "a", ifName: "eth0", rangeID: 0) })
        // The reference releases a's address and hands it to z: our marker for a stays.
        try FileManager.default.removeItem(atPath: d.file("n/10.0.0.2"))
        try d.write("n/10.0.0.2", "z\r\neth0")
        // One marker, one file, but not the same inode: the listing sees it.
        #expect(try s.withLock { try s.listing() }.consistent == false)
        #expect(try s.withLock { try s.releaseAll(containerID: "a", ifName: "eth0") }.isEmpty)
        #expect(try d.read("n/10.0.0.2") == "z\r\neth0")
        #expect(try markers(d) == [".owner-\(key("z"))-10.0.0.2"])   // repaired on the way
        #expect(try s.withLock { try s.listing() }.consistent)
        // z's second ADD is refused as a duplicate, found through the repaired marker.
        #expect(try s.withLock { try s.allocationView(containerID: "z", ifName: "eth0") }.held == [ip("10.0.0.2")])
        #expect(try s.withLock { try s.releaseAll(containerID: "z", ifName: "eth0") } == [ip("10.0.0.2")])
        #expect(try markers(d).isEmpty)
    }

    @Test func aMissingMarkerOrAnExtraOneSendsTheStoreToReadEveryFile() throws {
        let d = try TemporaryDirectory("swcni-store")
        defer { d.remove() }
        let s = try DiskStore(dataDir: d.path, network: "n")
        for (i, c) in ["a", "b", "c"].enumerated() {
            #expect(try s.withLock { try s.reserve(ip("10.0.0.\(i + 2)"), containerID: c, ifName: "eth0", rangeID: 0) })
        }
        #expect(try s.withLock { try s.listing() }.consistent)
        try FileManager.default.removeItem(atPath: d.file("n/.owner-\(key("b"))-10.0.0.3"))   // a crash between file and marker
        #expect(try s.withLock { try s.listing() }.consistent == false)
        #expect(try s.withLock { try s.allocationView(containerID: "b", ifName: "eth0") }.held == [ip("10.0.0.3")])
        #expect(try s.withLock { try s.listing() }.consistent)
        try d.write("n/.owner-\(key("q"))-10.0.0.9", "")                 // a marker naming no reservation
        #expect(try s.withLock { try s.listing() }.consistent == false)
        _ = try s.withLock { try s.releaseAll(containerID: "nobody", ifName: "eth0") }
        #expect(try markers(d).count == 3 && s.withLock { try s.listing() }.consistent)
        // The duplicate check sees a held address through its marker.
        let set = try RangeSet([try IPRange(subnet: IPPrefix("10.0.0.0/24")!)])
        #expect(throws: IPAMError.self) {
            try s.withLock { try Allocator(rangeSet: set, rangeID: 0).allocate(in: s, containerID: "a", ifName: "eth0", requested: nil) }
        }
    }
}

/// The owner index of large pools (DiskStore+Owners): ADD and DEL without a listing. Here every
/// pool counts as large (`largeDirectory = 0`).
@Suite struct OwnerIndexTests {
    let set = try! RangeSet([try! IPRange(subnet: net("10.0.0.0/28"))])
    func key(_ c: String, _ i: String = "eth0") -> String { DiskStore.ownerKey(.attachment(containerID: c, ifName: i))! }
    func large(_ d: TemporaryDirectory) throws -> DiskStore {
        let s = try DiskStore(dataDir: d.path, network: "n")
        s.largeDirectory = 0
        return s
    }
    func add(_ s: DiskStore, _ c: String) throws -> String {
        try s.withLock { try Allocator(rangeSet: set, rangeID: 0).allocate(in: s, containerID: c, ifName: "eth0", requested: nil) }
            .address.address.description
    }
    func entry(_ d: TemporaryDirectory, _ c: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: d.file("n/.owner-index/" + key(c))) }
    func markerOwners(_ d: TemporaryDirectory) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: d.file("n")).filter { $0.hasPrefix(".owner-") && $0 != ".owner-index" }
            .map { String($0.dropFirst(7).prefix(32)) })
    }

    @Test func aLargePoolAnswersFromItsIndexWithoutAListing() throws {
        let d = try TemporaryDirectory("swcni-index")
        defer { d.remove() }
        let s = try large(d)
        #expect(try add(s, "a") == "10.0.0.2")      // a listing, which builds the (empty) index
        #expect(FileManager.default.fileExists(atPath: d.file("n/.owner-index")))
        #expect(try add(s, "b") == "10.0.0.3" && add(s, "c") == "10.0.0.4")
        #expect(entry(d, "a") == "10.0.0.2" && entry(d, "b") == "10.0.0.3" && entry(d, "c") == "10.0.0.4")
        // The duplicate check answers from the index.
        #expect(throws: IPAMError.self) { try add(s, "b") }
        // The reference reserves 10.0.0.5 for z (no marker): the next ADD skips the taken address
        // and, not listing, does not notice the missing marker.
        try d.write("n/10.0.0.5", "z\r\neth0")
        #expect(try add(s, "e") == "10.0.0.6")
        #expect(try !markerOwners(d).contains(key("z")))
        // A DEL from the index: the file, its marker and the entry go.
        #expect(try s.withLock { try s.releaseAll(containerID: "b", ifName: "eth0") } == [ip("10.0.0.3")])
        #expect(try !d.exists("n/10.0.0.3") && entry(d, "b") == nil && !markerOwners(d).contains(key("b")))
        // z's DEL finds no entry: a listing, which repairs the markers and drops the index...
        #expect(try s.withLock { try s.releaseAll(containerID: "z", ifName: "eth0") } == [ip("10.0.0.5")])
        #expect(!FileManager.default.fileExists(atPath: d.file("n/.owner-index")))
        // ...rebuilt by the next operation's consistent listing, from the markers.
        #expect(try add(s, "f") == "10.0.0.7")
        #expect(entry(d, "a") == "10.0.0.2" && entry(d, "c") == "10.0.0.4" && entry(d, "e") == "10.0.0.6" && entry(d, "f") == "10.0.0.7")
        #expect(try s.withLock { try s.listing() }.consistent)
    }

    @Test func anIndexEntryIsConfirmedFromTheFileItNames() throws {
        let d = try TemporaryDirectory("swcni-index")
        defer { d.remove() }
        let s = try large(d)
        #expect(try add(s, "a") == "10.0.0.2" && add(s, "b") == "10.0.0.3")
        // The reference released a's address and gave it to y: a's entry still names it.
        try FileManager.default.removeItem(atPath: d.file("n/10.0.0.2"))
        try d.write("n/10.0.0.2", "y\r\neth0")
        #expect(entry(d, "a") == "10.0.0.2")
        // a holds nothing: its ADD is no duplicate, and its DEL frees none of y's.
        let view = try s.withLock { try s.allocationView(containerID: "a", ifName: "eth0") }
        #expect(view.held.isEmpty && view.isTaken(ip("10.0.0.2")))
        #expect(try s.withLock { try s.releaseAll(containerID: "a", ifName: "eth0") }.isEmpty)
        #expect(try d.read("n/10.0.0.2") == "y\r\neth0")
    }

    @Test func anAddKilledAfterItsFileIsMadeIsUndoneByTheDel() throws {
        let d = try TemporaryDirectory("swcni-index")
        defer { d.remove() }
        let s = try large(d)
        #expect(try add(s, "a") == "10.0.0.2")
        // a's second address (dual stack): the entry is written first, then the file; the
        // process is killed before the marker.
        try FileManager.default.removeItem(atPath: d.file("n/.owner-index/" + key("a")))
        try FileManager.default.createSymbolicLink(atPath: d.file("n/.owner-index/" + key("a")), withDestinationPath: "10.0.0.2,fd00::5")
        try d.write("n/fd00::5", "a\r\neth0")
        #expect(try s.withLock { try s.releaseAll(containerID: "a", ifName: "eth0") } == [ip("10.0.0.2"), ip("fd00::5")])
        #expect(!d.exists("n/10.0.0.2") && !d.exists("n/fd00::5") && entry(d, "a") == nil)
    }

    @Test func aSecondDelOrOneOfNothingKeepsTheIndex() throws {
        let d = try TemporaryDirectory("swcni-index")
        defer { d.remove() }
        let s = try large(d)
        #expect(try add(s, "a") == "10.0.0.2" && add(s, "b") == "10.0.0.3")
        for _ in 0..<2 {
            #expect(try s.withLock { try s.releaseAll(containerID: "b", ifName: "eth0") }.count <= 1)
            #expect(try s.withLock { try s.releaseAll(containerID: "never", ifName: "eth0") }.isEmpty)
            #expect(FileManager.default.fileExists(atPath: d.file("n/.owner-index")) && entry(d, "a") == "10.0.0.2")
        }
        // Asking again for an address a holds is refused and leaves a's entry alone.
        #expect(try !s.withLock { try s.reserve(ip("10.0.0.2"), containerID: "a", ifName: "eth0", rangeID: 0) })
        #expect(entry(d, "a") == "10.0.0.2")
        // A drop killed half-way leaves its renamed directory, which the next build removes.
        try FileManager.default.createDirectory(atPath: d.file("n/.owner-index.old"), withIntermediateDirectories: true)
        try d.write("n/.owner-index.old/x", "")
        try d.write("n/10.0.0.9", "z\r\neth0")          // the reference's: the next DEL of z repairs
        #expect(try s.withLock { try s.releaseAll(containerID: "z", ifName: "eth0") } == [ip("10.0.0.9")])
        #expect(!FileManager.default.fileExists(atPath: d.file("n/.owner-index")))
        #expect(try add(s, "c") == "10.0.0.4")
        #expect(!FileManager.default.fileExists(atPath: d.file("n/.owner-index.old")) && entry(d, "a") == "10.0.0.2")
    }

    @Test func aLargePoolRunsOutAndTakesOverEmptyLeftovers() throws {
        let d = try TemporaryDirectory("swcni-index")
        defer { d.remove() }
        let s = try large(d)
        let small = try RangeSet([try IPRange(subnet: net("10.0.0.0/29"))])   // .2 ... .6
        let alloc = Allocator(rangeSet: small, rangeID: 0)
        for c in ["a", "b", "c", "d", "e"] { _ = try s.withLock { try alloc.allocate(in: s, containerID: c, ifName: "eth0", requested: nil) } }
        let full = #expect(throws: IPAMError.self) { try s.withLock { try alloc.allocate(in: s, containerID: "g", ifName: "eth0", requested: nil) } }
        #expect(full?.cniError.code == 110)
        // c's address freed and left empty by a crashed reference writer: taken over.
        #expect(try s.withLock { try s.releaseAll(containerID: "c", ifName: "eth0") } == [ip("10.0.0.4")])
        try d.write("n/10.0.0.4", "")
        #expect(try s.withLock { try alloc.allocate(in: s, containerID: "g", ifName: "eth0", requested: nil) }.address.address == ip("10.0.0.4"))
        #expect(try d.read("n/10.0.0.4") == "g\r\neth0" && entry(d, "g") == "10.0.0.4")
    }
}
