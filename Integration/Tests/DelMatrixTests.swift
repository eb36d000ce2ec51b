import CNI
import Foundation
import Testing
import TestSupport

/// The DEL matrix (issue #18, item 1): every way a runtime sends DEL, for every plugin this
/// kernel runs (ipvlan's cases need the guest kernel). Each case answers rc 0, and afterwards
/// nothing of the attachment is left: no link in the pod, no nftables rule or bridge port on the
/// host, no daemon lease, and its address is free — proven by a second container getting the
/// range's only address.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct DelMatrixTests {
    enum Scenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case macvlanHostLocal = "macvlan + host-local", macvlanStatic = "macvlan + static",
             macvlanWhereabouts = "macvlan + whereabouts", macvlanDHCP = "macvlan + dhcp",
             bridgeIPMasq = "bridge (ipMasq) + host-local", hostDevice = "host-device + host-local",
             ipvlanHostLocal = "ipvlan + host-local"   // the guest kernel's (DelMatrixGuestTests)
        var testDescription: String { rawValue }
    }

    enum Case: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case twice = "DEL twice", withoutAdd = "DEL without ADD", namespaceGone = "DEL with the namespace gone",
             emptyNetns = "DEL with CNI_NETNS empty", parentGone = "DEL with the master/bridge/device gone",
             afterFailedAdd = "DEL after a failed ADD", olderPrevResult = "DEL with an older prevResult"
        var testDescription: String { rawValue }
    }

    /// One scenario's scene: the usual host + pod, and what the scenario needs besides.
    final class Scene: @unchecked Sendable {
        let scenario: Scenario
        let s: HostAndPod
        var dhcp: DHCPScene?

        init(_ scenario: Scenario) throws {
            self.scenario = scenario
            s = try HostAndPod()
            switch scenario {
            case .macvlanDHCP: dhcp = try DHCPScene(resendTimeout: "2s", range: "10.77.0.50,10.77.0.50", scene: s)
            case .hostDevice:
                try s.host.ip("link", "add", "hdev0", "type", "veth", "peer", "name", "hdev0p")
                try s.host.ip("link", "set", "hdev0p", "up")
            default: break
            }
        }

        var binary: String {
            switch scenario {
            case .bridgeIPMasq: return BuildProducts.path("bridge")
            case .hostDevice: return BuildProducts.path("host-device")
            case .ipvlanHostLocal: return BuildProducts.path("ipvlan")
            default: return BuildProducts.path("macvlan")
            }
        }

        /// The config; `failing` adds a route whose gateway is unreachable, so ADD fails after
        /// IPAM and the link (dhcp: the server is stopped instead).
        func conf(failing: Bool = false, version: String = "1.0.0", prevResult: String? = nil) -> String {
            let route = failing ? #",{"dst":"192.168.250.0/24","gw":"10.99.9.9"}"# : ""
            let routes = #""routes":[{"dst":"192.168.240.0/24"}\#(route)]"#
            let ipam: String
            switch scenario {
            case .macvlanHostLocal, .bridgeIPMasq, .hostDevice, .ipvlanHostLocal:
                ipam = #"{"type":"host-local","subnet":"10.88.0.0/30","dataDir":"\#(s.dataDir)",\#(routes)}"#
            case .macvlanStatic:
                ipam = #"{"type":"static","addresses":[{"address":"10.88.0.2/24"}],\#(routes)}"#
            case .macvlanWhereabouts:
                ipam = #"{"type":"whereabouts","range":"10.88.0.0/30","gateway":"10.88.0.1","dataDir":"\#(s.dir.file("wb"))",\#(routes)}"#
            case .macvlanDHCP:
                ipam = #"{"type":"dhcp","daemonSocketPath":"\#(dhcp!.socket)"}"#
            }
            let prev = prevResult.map { #","prevResult":\#($0)"# } ?? ""
            let head = #""cniVersion":"\#(version)","name":"dm""#
            switch scenario {
            case .bridgeIPMasq:
                return #"{\#(head),"type":"bridge","bridge":"dmbr0","isGateway":true,"ipMasq":true\#(prev),"ipam":\#(ipam)}"#
            case .hostDevice:
                return #"{\#(head),"type":"host-device","device":"hdev0","dataDir":"\#(s.dir.file("hd-state"))"\#(prev),"ipam":\#(ipam)}"#
            case .ipvlanHostLocal:
                return #"{\#(head),"type":"ipvlan","master":"vparent0","mode":"l2"\#(prev),"ipam":\#(ipam)}"#
            default:
                return #"{\#(head),"type":"macvlan","master":"vparent0"\#(prev),"ipam":\#(ipam)}"#
            }
        }

        func run(_ command: String, _ id: String, conf: String? = nil, netns: String? = nil,
                 extraEnv: [String: String] = [:]) throws -> TestSupport.Command {
            try s.plugin(binary, command, conf ?? self.conf(), ifName: "net1", containerID: id, netns: netns,
                         args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p-\(id)", extraEnv: extraEnv)
        }

        /// What is left of attachments on the host and in `pod` (when it still exists).
        func leftovers(pod: NetNS? = nil) throws -> [String] {
            var left: [String] = []
            if let pod = pod ?? Optional(s.pod), FileManager.default.fileExists(atPath: pod.path), try pod.link("net1") != nil {
                left.append("net1 in \(pod.name)")
            }
            if scenario == .bridgeIPMasq {
                if try !rules(s.host, chain: "masq_checks").isEmpty { left.append("masquerade rules") }
                if try s.host.link("dmbr0") != nil {
                    let ports = try s.host.ipJSON("link", "show", "master", "dmbr0").arrayValue ?? []
                    if !ports.isEmpty { left.append("\(ports.count) bridge ports") }
                }
            }
            if scenario == .hostDevice, try s.host.link("hdev0") == nil { left.append("hdev0 not back on the host") }
            if scenario == .hostDevice, let saved = try? FileManager.default.subpathsOfDirectory(atPath: s.dir.file("hd-state")),
               saved.contains(where: { $0.contains("/") }) {
                left.append("host-device saved state \(saved)")
            }
            if let d = dhcp, !d.savedLeases.isEmpty { left.append("dhcp daemon leases \(d.savedLeases)") }
            return left
        }

        /// The range's only address can be had again: ADD a second container into a fresh pod
        /// namespace, then DEL it. (static holds nothing.)
        func addressIsFree() throws -> Bool {
            let other = try NetNS("other")
            defer { other.delete() }
            let add = try run("ADD", "probe", netns: other.path)
            defer { _ = try? run("DEL", "probe", netns: other.path) }
            return add.status == 0
        }
    }

    /// Every scenario this kernel runs (ipvlan's rows run in the guest: DelMatrixGuestTests).
    static let hostScenarios = Scenario.allCases.filter { $0 != .ipvlanHostLocal }

    @Test(arguments: hostScenarios, Case.allCases)
    func delSucceedsAndLeavesNothing(scenario: Scenario, delCase: Case) throws {
        try Self.check(scenario, delCase)
    }

    static func check(_ scenario: Scenario, _ delCase: Case) throws {
        let sc = try Scene(scenario)
        let s = sc.s
        switch delCase {
        case .twice:
            try #require(try sc.run("ADD", "c1").status == 0)
            for _ in 0..<2 { let d = try sc.run("DEL", "c1"); #expect(d.status == 0, "\(d.stdout)") }
        case .withoutAdd:
            let d = try sc.run("DEL", "never-added")
            #expect(d.status == 0, "\(d.stdout)")
        case .namespaceGone:
            let pod2 = try NetNS("gone")
            let path = pod2.path
            let add = try sc.run("ADD", "c1", netns: path)
            try #require(add.status == 0, "\(add.stdout)")
            pod2.delete()
            let d = try sc.run("DEL", "c1", netns: path)
            #expect(d.status == 0, "\(d.stdout)")
        case .emptyNetns:
            try #require(try sc.run("ADD", "c1").status == 0)
            let d = try sc.run("DEL", "c1", netns: "")
            #expect(d.status == 0, "\(d.stdout)")
            // containerd removes the namespace afterwards; what was in it goes with it.
            s.pod.delete()
        case .parentGone:
            try #require(try sc.run("ADD", "c1").status == 0)
            switch scenario {
            case .bridgeIPMasq: try s.host.ip("link", "del", "dmbr0")
            case .hostDevice: try s.pod.ip("link", "del", "net1")        // the device itself is gone
            default: try s.host.ip("link", "del", "vparent0")            // the master (and its macvlans)
            }
            let d = try sc.run("DEL", "c1")
            #expect(d.status == 0, "\(d.stdout)")
        case .afterFailedAdd:
            if let dhcp = sc.dhcp { dhcp.dnsmasq?.kill() }
            let add = try sc.run("ADD", "c1", conf: sc.conf(failing: true))
            #expect(add.status != 0 && add.json?["code"]?.intValue != nil, "\(add.stdout)")
            #expect(try sc.leftovers().isEmpty, "a failed ADD left something")
            let d = try sc.run("DEL", "c1", conf: sc.conf(failing: true))
            #expect(d.status == 0, "\(d.stdout)")
            if let dhcp = sc.dhcp { try dhcp.startServer(t1: 60, t2: 100) }
        case .olderPrevResult:
            let add = try sc.run("ADD", "c1")
            try #require(add.status == 0, "\(add.stdout)")
            // The cached result of an older runtime: the 0.4.0 shape, the config still 1.0.0.
            let old = try CNIResult(json: try #require(add.json), version: .v1_0_0).json(version: .v0_4_0)
            let d = try sc.run("DEL", "c1", conf: sc.conf(prevResult: old.serializedString()))
            #expect(d.status == 0, "\(d.stdout)")
        }
        // host-device's device here is a veth: when its pod namespace goes, the kernel destroys it
        // (a physical device would return to the root namespace), so it cannot come back.
        let deviceDestroyed = scenario == .hostDevice && [.parentGone, .namespaceGone, .emptyNetns].contains(delCase)
        // A namespace's links go when the kernel gets to cleaning it up: a moment later.
        var left: [String] = []
        _ = try waitUntil(3) {
            left = try sc.leftovers()
            if deviceDestroyed { left.removeAll { $0.hasPrefix("hdev0") } }
            return left.isEmpty
        }
        #expect(left == [], "\(scenario.rawValue), \(delCase.rawValue)")
        if scenario != .macvlanStatic {
            // Without the parent no second ADD can run: the store is read instead.
            if delCase == .parentGone || deviceDestroyed { #expect(try sc.storeIsEmpty(), "the address was not released") }
            else { #expect(try sc.addressIsFree(), "the address was not released") }
        }
    }
}

extension DelMatrixTests.Scene {
    /// With the parent gone no second ADD can run: the store is read instead.
    func storeIsEmpty() throws -> Bool {
        switch scenario {
        case .macvlanHostLocal, .bridgeIPMasq, .hostDevice, .ipvlanHostLocal:
            let files = (try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/dm")) ?? []
            return files.allSatisfy { $0 == "lock" || $0.hasPrefix("last_reserved_ip") }
        case .macvlanWhereabouts:
            // The journal's live entries: every "+off" has a later "-off".
            let dir = s.dir.file("wb")
            let files = (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []
            var live = 0
            for f in files where !f.hasSuffix(".lock") {
                guard let text = try? String(contentsOfFile: dir + "/" + f, encoding: .utf8) else { continue }
                for line in text.split(separator: "\n") {
                    if line.hasPrefix("+") { live += 1 } else if line.hasPrefix("-") { live -= 1 }
                }
            }
            return live == 0
        case .macvlanDHCP: return dhcp?.savedLeases.isEmpty ?? true
        case .macvlanStatic: return true
        }
    }
}
