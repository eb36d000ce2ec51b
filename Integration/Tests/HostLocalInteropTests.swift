import CNI
import Dispatch
import Foundation
import Testing
import TestSupport

/// Our host-local and the Go reference from /usr/lib/cni sharing one data directory, many
/// processes at once, and processes killed mid-ADD. No root needed.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: HostLocalBinaries.go) || Root.required,
                "needs Debian's containernetworking-plugins"))
struct HostLocalInteropTests {
    let ours = BuildProducts.path("host-local")
    let go = HostLocalBinaries.go

    final class Store {
        let dir: TemporaryDirectory
        init() throws { dir = try TemporaryDirectory("swcni-hlit") }
        deinit { dir.remove() }

        func conf(_ subnet: String, version: String = "1.0.0") -> String {
            #"{"cniVersion":"\#(version)","name":"shared","type":"macvlan","ipam":{"type":"host-local","subnet":"\#(subnet)","dataDir":"\#(dir.path)"}}"#
        }

        /// IP file name → content.
        var reservations: [String: String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("shared"))) ?? []
            var out: [String: String] = [:]
            for n in names where n != "lock" && !n.hasPrefix("last_reserved") && !n.hasPrefix(".") {
                out[n] = (try? dir.read("shared/" + n)) ?? "<unreadable>"
            }
            return out
        }
    }

    func run(_ binary: String, _ command: String, _ conf: String, id: String, ifName: String = "eth0") throws -> Command {
        try Command.run([binary], env: ["CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": "/var/run/netns/x",
                                        "CNI_IFNAME": ifName, "CNI_PATH": "/usr/lib/cni"], stdin: conf)
    }

    func address(_ c: Command) -> String? {
        c.json?["ips"]?.arrayValue?.first?["address"]?.stringValue
    }

    @Test func takingTurnsNeverHandsAnAddressOutTwice() throws {
        let s = try Store()
        let conf = s.conf("10.60.0.0/26")
        var handed: [String: String] = [:]  // address → container
        for i in 0..<40 {
            // Alternate in uneven patterns so each side resumes from the other's last_reserved_ip.
            let binary = (i % 3 == 0) ? go : ours
            let add = try run(binary, "ADD", conf, id: "c\(i)")
            try #require(add.status == 0, "\(binary) ADD c\(i): \(add.stdout)\(add.stderr)")
            let a = try #require(address(add))
            #expect(handed[a] == nil, "\(a) handed out twice")
            handed[a] = "c\(i)"
        }
        #expect(s.reservations.count == 40)
        for (a, id) in handed { #expect(s.reservations[String(a.split(separator: "/")[0])] == "\(id)\r\neth0") }
        // DEL by the other implementation than the one that added.
        for i in 0..<40 {
            let binary = (i % 3 == 0) ? ours : go
            #expect(try run(binary, "DEL", conf, id: "c\(i)").status == 0)
        }
        #expect(s.reservations.isEmpty)
        // Mixed ADDs again continue round-robin without reuse of an address still held.
        let a1 = try run(ours, "ADD", conf, id: "x1"), a2 = try run(go, "ADD", conf, id: "x2")
        #expect(address(a1) != nil && address(a1) != address(a2))
        #expect(try run(go, "DEL", conf, id: "x1").status == 0 && run(ours, "DEL", conf, id: "x2").status == 0)
        #expect(s.reservations.isEmpty)
    }

    @Test func ourCheckAndDelHandleRecordsTheGoPluginWrote() throws {
        let s = try Store()
        let conf = s.conf("10.61.0.0/24", version: "1.0.0")
        let add = try run(go, "ADD", conf, id: "g1")
        try #require(add.status == 0)
        // Our CHECK with the Go plugin's result as prevResult.
        var withPrev = try JSONValue.parse(conf).objectValue!
        withPrev["prevResult"] = add.json
        #expect(try run(ours, "CHECK", JSONValue.object(withPrev).serializedString(), id: "g1").status == 0)
        #expect(try run(ours, "DEL", conf, id: "g1").status == 0)
        #expect(s.reservations.isEmpty)
    }

    func parallel(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Command) -> [Command?] {
        let results = LockedArray<Command>(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { i in results[i] = try? body(i) }
        return results.values
    }

    @Test(arguments: [false, true])
    func sixtyFourParallelAddsOnASlash26(mixed: Bool) throws {
        let s = try Store()
        let conf = s.conf("10.62.0.0/26")
        let ours = self.ours, go = self.go
        let adds = parallel(64) { i in try run(mixed && i % 2 == 1 ? go : ours, "ADD", conf, id: "p\(i)") }
        let ok = adds.compactMap { $0 }.filter { $0.status == 0 }
        let failed = adds.compactMap { $0 }.filter { $0.status != 0 }
        #expect(adds.allSatisfy { $0 != nil })
        #expect(ok.count == 61)
        #expect(Set(ok.compactMap(address)).count == 61)
        #expect(failed.count == 3)
        for f in failed {
            #expect(f.json?["msg"]?.stringValue?.contains("no IP addresses available in range set: 10.62.0.1-10.62.0.62") == true,
                    "\(f.stdout)")
        }
        #expect(s.reservations.count == 61)
        let dels = parallel(64) { i in try run(i % 2 == 0 || !mixed ? ours : go, "DEL", conf, id: "p\(i)") }
        #expect(dels.allSatisfy { $0?.status == 0 })
        #expect(s.reservations.isEmpty)
    }

    @Test func aProcessKilledMidAddLeavesNoBlockingFile() throws {
        let s = try Store()
        let conf = s.conf("10.63.0.0/27")  // 29 usable addresses
        for i in 0..<120 {
            try killMidway(ours, environment: ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "k\(i)", "CNI_NETNS": "/x",
                                               "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"], stdin: conf)
            // Whatever it got is released by the runtime's DEL, as after any failed ADD.
            _ = try run(ours, "DEL", conf, id: "k\(i)")
        }
        // No file was left empty or half-written, and every address can be handed out again.
        #expect(s.reservations.isEmpty, "\(s.reservations)")
        var got = Set<String>()
        for i in 0..<29 {
            let add = try run(ours, "ADD", conf, id: "after\(i)")
            #expect(add.status == 0, "\(add.stdout)")
            got.insert(address(add) ?? "")
        }
        #expect(got.count == 29)
        // Temporary files of killed writers were swept by the later operations.
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir.file("shared")).filter { $0.hasPrefix(".reserving-") }.isEmpty)
    }

    @Test func anEmptyFileTheReferenceLeftIsTakenOver() throws {
        let s = try Store()
        let conf = s.conf("10.64.0.0/29")  // .2 … .6
        try #require(try run(go, "ADD", conf, id: "seed").status == 0)  // creates the directory
        #expect(try run(go, "DEL", conf, id: "seed").status == 0)
        for last in 3...6 { try s.dir.write("shared/10.64.0.\(last)", "") }  // as a crashed Go writer leaves them
        var got = Set<String>()
        for i in 0..<5 {
            let add = try run(ours, "ADD", conf, id: "t\(i)")
            #expect(add.status == 0, "\(add.stdout)")
            got.insert(address(add) ?? "")
        }
        #expect(got == ["10.64.0.2/29", "10.64.0.3/29", "10.64.0.4/29", "10.64.0.5/29", "10.64.0.6/29"])
    }

    @Test func gcReleasesExactlyTheAttachmentsNotValid() throws {
        let s = try Store()
        let conf = s.conf("10.65.0.0/24", version: "1.1.0")
        let conf10 = s.conf("10.65.0.0/24", version: "1.0.0")  // the Go plugin speaks up to 1.0.0
        for i in 0..<6 { #expect(try run(i % 2 == 0 ? ours : go, "ADD", i % 2 == 0 ? conf : conf10, id: "g\(i)").status == 0) }
        var gc = try JSONValue.parse(conf).objectValue!
        gc["cni.dev/valid-attachments"] = [["containerID": "g1", "ifname": "eth0"], ["containerID": "g4", "ifname": "eth0"],
                                           ["containerID": "g5", "ifname": "net9"]]
        let out = try Command.run([ours], env: ["CNI_COMMAND": "GC", "CNI_PATH": "/usr/lib/cni"],
                                  stdin: JSONValue.object(gc).serializedString())
        #expect(out.status == 0, "\(out.stdout)")
        #expect(Set(s.reservations.values) == ["g1\r\neth0", "g4\r\neth0"])
    }
}

enum HostLocalBinaries {
    static let go = "/usr/lib/cni/host-local"
}

/// A fixed-size array written from many threads.
final class LockedArray<T>: @unchecked Sendable {
    private var items: [T?]
    private let lock = NSLock()
    init(count: Int) { items = Array(repeating: nil, count: count) }
    subscript(i: Int) -> T? {
        get { lock.lock(); defer { lock.unlock() }; return items[i] }
        set { lock.lock(); items[i] = newValue; lock.unlock() }
    }
    var values: [T?] { lock.lock(); defer { lock.unlock() }; return items }
}
