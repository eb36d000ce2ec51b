import CNI
import Foundation
import LinuxSystem
import Testing
import TestSupport

/// Fault injection at every step of ADD (issue #18, item 2): each step a plugin names (link
/// create, rename, move, address, route, sysctl, firewall, store transaction, multus's network
/// status and cached results…) fails in turn through the debug builds' seam
/// (`SWCNI_FAULT=<plugin>:<n>`, CNI's FaultInjection); every failed ADD answers a coded error
/// and leaves nothing — no link in the pod, no rule, no bridge port, no reservation, no saved
/// state or cache — until ADD gets through all its steps (then DEL cleans up as usual).
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct FaultInjectionTests {
    /// Faults injected per plugin in the last runs, for the README's figures.
    static let limit = 80

    /// Fails step 1, 2, … of `target`'s ADD until one gets through; after each failure, `left()`
    /// must be empty. Returns how many faults were injected.
    @discardableResult
    func everyStep(_ target: String, add: ([String: String]) throws -> TestSupport.Command, left: () throws -> [String],
                   _ what: String) throws -> Int {
        for n in 1...Self.limit {
            let out = try add(["SWCNI_FAULT": "\(target):\(n)"])
            if out.status == 0 { return n - 1 }
            let code = out.json?["code"]?.intValue
            #expect(code != nil && code != 999, "\(what), \(target) step \(n): \(out.stdout)")
            var leftover: [String] = []
            _ = try waitUntil(3) { leftover = try left(); return leftover.isEmpty }
            #expect(leftover.isEmpty, "\(what), \(target) step \(n) (\(out.json?["msg"]?.stringValue ?? "")): \(leftover)")
            if !leftover.isEmpty { return n }
        }
        Issue.record("\(what): ADD of \(target) never got through \(Self.limit) steps")
        return Self.limit
    }

    /// The DEL matrix's scenarios (their scenes, configs and leftovers), faults in the main
    /// plugin and, where it has steps of its own, in the IPAM plugin.
    @Test(arguments: [DelMatrixTests.Scenario.macvlanHostLocal, .macvlanWhereabouts, .bridgeIPMasq, .hostDevice])
    func aFailedADDLeavesNothing(scenario: DelMatrixTests.Scenario) throws {
        let sc = try DelMatrixTests.Scene(scenario)
        let main = FileSystem.baseName(sc.binary)
        var targets = [main]
        if scenario == .macvlanWhereabouts { targets.append("whereabouts") }
        for target in targets {
            let faults = try everyStep(target, add: { env in try sc.run("ADD", "c1", extraEnv: env) }, left: {
                var l = try sc.leftovers()
                if scenario != .macvlanStatic, try !sc.storeIsEmpty() { l.append("a reservation") }
                return l
            }, scenario.rawValue)
            #expect(faults > 0, "no step of \(target) was reached")
            FileSystem.writeStderr("fault injection \(scenario.rawValue): \(faults) faults in \(target), nothing left\n")
            let del = try sc.run("DEL", "c1")
            #expect(del.status == 0, "\(del.stdout)")
        }
    }

    /// multus with two static delegates (macvlan, then bridge): faults in multus's own steps and
    /// in the second delegate's — the first delegate is DELed, its address released, nothing
    /// cached.
    @Test func multusUndoesEveryDelegate() throws {
        let s = try HostAndPod()
        let cni = s.dir.file("multus")
        let conf = #"""
            {"cniVersion":"1.0.0","name":"fi-multus","type":"multus","cniDir":"\#(cni)","binDir":"\#(BuildProducts.directory)","delegates":[
              {"cniVersion":"1.0.0","name":"fi-mv","type":"macvlan","master":"\#(s.parent)","ipam":{"type":"host-local","subnet":"10.71.0.0/24","dataDir":"\#(s.dataDir)"}},
              {"cniVersion":"1.0.0","name":"fi-br","type":"bridge","bridge":"fibr0","ipam":{"type":"host-local","subnet":"10.72.0.0/24","dataDir":"\#(s.dataDir)"}}]}
            """#
        let multus = BuildProducts.path("multus")
        func left() throws -> [String] {
            var l: [String] = []
            let links = (try s.pod.ipJSON("link", "show").arrayValue ?? []).compactMap { $0["ifname"]?.stringValue }.filter { $0 != "lo" }
            if !links.isEmpty { l.append("links in the pod: \(links)") }
            for net in ["fi-mv", "fi-br"] {
                let held = ((try? FileManager.default.contentsOfDirectory(atPath: s.dataDir + "/" + net)) ?? [])
                    .filter { $0 != "lock" && !$0.hasPrefix("last_reserved") && !$0.hasPrefix(".") }
                if !held.isEmpty { l.append("\(net) reservations \(held)") }
            }
            let cached = ((try? FileManager.default.subpathsOfDirectory(atPath: cni)) ?? []).filter { !$0.hasSuffix("results") }
            if !cached.isEmpty { l.append("multus cache \(cached)") }
            if try s.host.link("fibr0") != nil {
                let ports = try s.host.ipJSON("link", "show", "master", "fibr0").arrayValue ?? []
                if !ports.isEmpty { l.append("\(ports.count) ports on fibr0") }
            }
            return l
        }
        let add = { (env: [String: String]) in
            try s.plugin(multus, "ADD", conf, ifName: "eth0", containerID: "c1", args: "IgnoreUnknown=1", extraEnv: env)
        }
        for target in ["multus", "bridge"] {
            let faults = try everyStep(target, add: add, left: left, "multus")
            #expect(faults > 0, "no step of \(target) was reached")
            FileSystem.writeStderr("fault injection multus: \(faults) faults in \(target), nothing left\n")
            #expect(try s.plugin(multus, "DEL", conf, ifName: "eth0", containerID: "c1", args: "IgnoreUnknown=1").status == 0)
            #expect(try left().isEmpty)
        }
    }

    /// route-override chained after macvlan: a fault in any of its route changes puts the pod's
    /// routes back as macvlan left them.
    @Test func routeOverrideRestoresTheRoutes() throws {
        let s = try HostAndPod()
        let mv = #"{"cniVersion":"1.0.0","name":"fi-ro","type":"macvlan","master":"\#(s.parent)","ipam":{"type":"host-local","subnet":"10.73.0.0/24","routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.60.0/24","gw":"10.73.0.254"},{"dst":"192.168.61.0/24","gw":"10.73.0.253"}],"dataDir":"\#(s.dataDir)"}}"#
        let first = try s.plugin(BuildProducts.path("macvlan"), "ADD", mv, ifName: "net1", containerID: "c1")
        try #require(first.status == 0, "\(first.stdout)")
        func routes() throws -> [String] {
            (try s.pod.ipJSON("route", "show").arrayValue ?? []).map { "\($0["dst"]?.stringValue ?? "") \($0["gateway"]?.stringValue ?? "")" }.sorted()
        }
        let before = try routes()
        var ro = try JSONValue.parse(#"{"cniVersion":"1.0.0","name":"fi-ro","type":"route-override","delroutes":[{"dst":"192.168.60.0/24"},{"dst":"192.168.61.0/24"}],"addroutes":[{"dst":"172.30.0.0/16","gw":"10.73.0.250"},{"dst":"172.31.0.0/16"}]}"#).objectValue!
        ro["prevResult"] = first.json
        let conf = JSONValue.object(ro).serializedString()
        let faults = try everyStep("route-override", add: { env in
            try s.plugin(BuildProducts.path("route-override"), "ADD", conf, ifName: "net1", containerID: "c1", extraEnv: env)
        }, left: { try routes() == before ? [] : ["routes \(try routes()) instead of \(before)"] }, "route-override")
        #expect(faults >= 4)
        FileSystem.writeStderr("fault injection route-override: \(faults) faults, routes restored each time\n")
        #expect(try routes() != before)  // the last ADD got through
        #expect(try s.plugin(BuildProducts.path("macvlan"), "DEL", mv, ifName: "net1", containerID: "c1").status == 0)
    }

    /// egress-router: a fault in any of its steps (macvlan, addresses, routes, sysctls, nft
    /// rules) leaves the router pod as it was — no net1, no rule table, the same routes.
    @Test func egressRouterLeavesThePodAsItWas() throws {
        let sc = try EgressRouterTests.Scene()
        let conf = sc.conf(#"{"addresses":["192.168.12.99/24"],"gateway":"192.168.12.1","destinations":["80 tcp 192.168.12.91 8080","192.168.12.92"]}"#)
        func routes() throws -> [String] {
            (try sc.s.pod.ipJSON("route", "show").arrayValue ?? []).map { "\($0["dst"]?.stringValue ?? "") \($0["gateway"]?.stringValue ?? "")" }.sorted()
        }
        let before = try routes()
        let faults = try everyStep("egress-router", add: { env in
            try sc.s.plugin(BuildProducts.path("egress-router"), "ADD", conf, ifName: "net1", extraEnv: env)
        }, left: {
            var l: [String] = []
            if try sc.s.pod.link("net1") != nil { l.append("net1 in the pod") }
            if !(try sc.ruleset()["nftables"]?.arrayValue ?? []).allSatisfy({ $0["table"] == nil }) { l.append("an nft table in the pod") }
            if try routes() != before { l.append("routes \(try routes()) instead of \(before)") }
            return l
        }, "egress-router")
        #expect(faults > 0)
        FileSystem.writeStderr("fault injection egress-router: \(faults) faults, nothing left\n")
        #expect(try sc.run("DEL", conf).status == 0)
    }
}
