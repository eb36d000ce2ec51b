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
        #expect(view.held == [ip("10.0.0.3")] && view.taken == [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")])
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
