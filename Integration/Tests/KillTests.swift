import CNI
import Foundation
import IPAddressing
import Testing
import TestSupport

/// SIGKILL at random points of ADD, 200 times per plugin (issue #18, item 3), each killed ADD in a
/// sandbox the runtime then gives up (its namespace deleted, no DEL): afterwards the store is
/// consistent (every reservation file whole and owned, no temporary left after the next
/// operation), GC with the live attachments removes exactly the orphans (reservations, masquerade
/// rules), and ADD and DEL keep working.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct KillTests {
    enum Scenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case hostLocal = "host-local", macvlan = "macvlan + host-local", bridge = "bridge (ipMasq) + host-local",
             whereabouts = "whereabouts (file store)"
        var testDescription: String { rawValue }
        var binary: String {
            switch self {
            case .hostLocal: return BuildProducts.path("host-local")
            case .macvlan: return BuildProducts.path("macvlan")
            case .bridge: return BuildProducts.path("bridge")
            case .whereabouts: return BuildProducts.path("whereabouts")
            }
        }
    }

    static let kills = 200
    static let live = 5

    func conf(_ sc: Scenario, _ s: HostAndPod, valid: [String]? = nil) -> String {
        let ipam = sc == .whereabouts
            ? #"{"type":"whereabouts","range":"10.89.0.0/22","dataDir":"\#(s.dir.file("wb"))"}"#
            : #"{"type":"host-local","subnet":"10.89.0.0/22","dataDir":"\#(s.dataDir)"}"#
        let gc = valid.map { ids in
            #","cni.dev/valid-attachments":[\#(ids.map { #"{"containerID":"\#($0)","ifname":"net1"}"# }.joined(separator: ","))]"#
        } ?? ""
        switch sc {
        case .bridge:
            return #"{"cniVersion":"1.1.0","name":"kt","type":"bridge","bridge":"ktbr0","isGateway":true,"ipMasq":true\#(gc),"ipam":\#(ipam)}"#
        case .hostLocal, .whereabouts:
            return #"{"cniVersion":"1.1.0","name":"kt","type":"\#(sc == .hostLocal ? "host-local" : "whereabouts")"\#(gc),"ipam":\#(ipam)}"#
        case .macvlan:
            return #"{"cniVersion":"1.1.0","name":"kt","type":"macvlan","master":"vparent0"\#(gc),"ipam":\#(ipam)}"#
        }
    }

    func env(_ command: String, _ id: String, netns: String) -> [String: String] {
        ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": netns,
         "CNI_IFNAME": "net1", "CNI_PATH": BuildProducts.directory, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=\(id)"]
    }

    func run(_ sc: Scenario, _ s: HostAndPod, _ command: String, _ id: String, netns: String, conf: String? = nil) throws -> TestSupport.Command {
        try s.host.exec([sc.binary], env: env(command, id, netns: netns)).withStdin(conf ?? self.conf(sc, s))
    }

    /// The addresses the store holds, by owner.
    func held(_ sc: Scenario, _ s: HostAndPod) throws -> [String: String] {
        var out: [String: String] = [:]
        if sc == .whereabouts {
            let text = (try? s.dir.read("wb/pools/10.89.0.0-22")) ?? ""
            var live: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let f = line.split(separator: "\t", omittingEmptySubsequences: false)
                if line.hasPrefix("+"), f.count >= 2 { live[String(f[0].dropFirst())] = String(f[1]) }
                if line.hasPrefix("-") { live[String(line.dropFirst())] = nil }
            }
            for (off, id) in live { out["offset \(off)"] = id }
            return out
        }
        let dir = s.dataDir + "/kt"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where IPAddress(name) != nil {
            let content = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            let parts = content.components(separatedBy: "\r\n")
            #expect(parts.count == 2 && !parts[0].isEmpty && parts[1] == "net1", "reservation \(name) is \(content.debugDescription)")
            out[name] = parts[0]
        }
        return out
    }

    @Test(arguments: Scenario.allCases)
    func survivesSIGKILLAtRandomPointsOfADD(scenario sc: Scenario) throws {
        let s = try HostAndPod()
        // The live attachments, each in a pod of its own.
        var pods: [NetNS] = []
        var liveIDs: [String] = []
        for i in 0..<Self.live {
            let pod = try NetNS("kl")
            pods.append(pod)
            let t0 = Date()
            let add = try run(sc, s, "ADD", "live\(i)", netns: pod.path)
            try #require(add.status == 0, "\(add.stdout)")
            liveIDs.append("live\(i)")
            if i == 0 { Self.addMicroseconds = UInt32(Date().timeIntervalSince(t0) * 1_000_000) }
        }
        // Killed ADDs, anywhere from exec to exit; the runtime gives the sandbox up.
        for i in 0..<Self.kills {
            let pod = try NetNS("kk")
            // nsenter execs the plugin in its place (same PID): the kill lands in the plugin.
            try killMidway("/usr/bin/nsenter", environment: env("ADD", "killed\(i)", netns: pod.path), stdin: conf(sc, s),
                           maxMicroseconds: Self.addMicroseconds, arguments: ["--net=\(s.host.path)", "--", sc.binary])
            pod.delete()
        }
        // Consistent: every reservation whole (checked in held), owned by a live or a killed ADD.
        let before = try held(sc, s)
        #expect(before.values.allSatisfy { $0.hasPrefix("live") || $0.hasPrefix("killed") })
        #expect(Set(before.values.filter { $0.hasPrefix("live") }) == Set(liveIDs))
        // Some kills landed after the reservation: there are orphans for GC to find.
        #expect(before.count > Self.live, "no killed ADD got as far as a reservation: \(before.count)")
        print("kill test \(sc.rawValue): \(before.count - Self.live) orphaned reservations of \(Self.kills) killed ADDs")
        // GC with the live attachments: exactly the orphans go.
        let gc = try run(sc, s, "GC", "gc", netns: "", conf: conf(sc, s, valid: liveIDs))
        #expect(gc.status == 0, "\(gc.stdout)")
        let after = try held(sc, s)
        #expect(after == before.filter { $0.value.hasPrefix("live") }, "\(after)")
        if sc == .bridge {
            #expect(try rules(s.host, chain: "masq_checks").count == Self.live)
            _ = waitUntil(3) { ((try? s.host.ipJSON("link", "show", "master", "ktbr0").arrayValue?.count) ?? 0) == Self.live }
            #expect(try s.host.ipJSON("link", "show", "master", "ktbr0").arrayValue?.count == Self.live)
        }
        if sc != .whereabouts {
            // Temporaries of killed writers were swept by the GC's lock holder.
            let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/kt")) ?? []).filter { $0.hasPrefix(".reserving-") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
        // ADD and DEL keep working.
        let pod = try NetNS("ka")
        defer { pod.delete() }
        let add = try run(sc, s, "ADD", "after", netns: pod.path)
        #expect(add.status == 0, "\(add.stdout)")
        #expect(try run(sc, s, "DEL", "after", netns: pod.path).status == 0)
        for (i, p) in pods.enumerated() { #expect(try run(sc, s, "DEL", "live\(i)", netns: p.path).status == 0) }
        #expect(try held(sc, s).isEmpty)
        for p in pods { p.delete() }
    }

    nonisolated(unsafe) static var addMicroseconds: UInt32 = 20_000
}
