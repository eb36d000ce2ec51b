@testable import Bridge
import CNI
import IPAddressing
import InterfaceSetup
import Netlink
@testable import RouteOverride
import Testing

/// The plugins' decisions as values, without root: what route-override changes, what the
/// bridge's gateways and VLANs are, and how a result route becomes a kernel route.
@Suite struct RouteOverridePlanTests {
    func conf(_ extra: String) throws -> RouteOverrideConfig {
        try RouteOverrideConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"route-override"\#(extra)}"#.utf8)))
    }

    let prev = CNIResult(interfaces: [.init(name: "net1", sandbox: "/run/netns/p")],
                         ips: [.init(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("10.1.0.1"), interface: 0)],
                         routes: [.init(dst: IPPrefix("0.0.0.0/0")!, gw: IPAddress("10.1.0.1")),
                                  .init(dst: IPPrefix("192.168.0.0/16")!, gw: IPAddress("10.1.0.1"))])
    let sandbox = RouteOverridePlan.Sandbox(indices: [7], first: 7, firstName: "net1",
                                            firstIPs: [.init(address: IPPrefix("10.1.0.5/24")!, gateway: IPAddress("10.1.0.1"), interface: 0)],
                                            connected: [IPPrefix("10.1.0.5/24")!])
    var kernel: [Netlink.Route] {
        [Netlink.Route(destination: IPPrefix("0.0.0.0/0")!, gateway: IPAddress("10.1.0.1"), linkIndex: 7),
         Netlink.Route(destination: IPPrefix("10.1.0.0/24")!, linkIndex: 7, scope: Netlink.Route.scopeLink),
         Netlink.Route(destination: IPPrefix("192.168.0.0/16")!, gateway: IPAddress("10.1.0.1"), linkIndex: 7),
         Netlink.Route(destination: IPPrefix("172.16.0.0/12")!, gateway: IPAddress("10.9.0.1"), linkIndex: 3),
         Netlink.Route(destination: IPPrefix("169.254.0.0/16")!, gateway: IPAddress("10.1.0.1"), linkIndex: 7)]
    }

    func deleted(_ p: RouteOverridePlan) -> [String] {
        p.changes.compactMap { if case .delete(let r) = $0 { return r.destination.description } else { return nil } }
    }
    func added(_ p: RouteOverridePlan) -> [Netlink.Route] {
        p.changes.compactMap { if case .add(let r) = $0 { return r } else { return nil } }
    }

    @Test func delroutesOnlyTouchWhatThePreviousResultHad() throws {
        let p = try RouteOverridePlan(conf(#","delroutes":[{"dst":"192.168.0.0/16"},{"dst":"172.16.0.0/12"}]"#),
                                      prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(deleted(p) == ["192.168.0.0/16"])
        #expect(p.result.routes.map(\.dst.description) == ["0.0.0.0/0"])
    }

    @Test func flushroutesKeepsLinkRoutesAndLinkLocalAndOtherInterfaces() throws {
        let p = try RouteOverridePlan(conf(#","flushroutes":true"#), prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(deleted(p) == ["0.0.0.0/0", "192.168.0.0/16"])
        #expect(p.result.routes.isEmpty)
    }

    @Test func flushgatewayDropsDefaultRoutesAndTheResultsGateways() throws {
        let p = try RouteOverridePlan(conf(#","flushgateway":true,"addroutes":[{"dst":"10.2.0.0/16"}]"#),
                                      prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(deleted(p) == ["0.0.0.0/0"])
        #expect(p.result.ips.allSatisfy { $0.gateway == nil })
        // No gateway to fall back to: a link-scope route.
        #expect(added(p) == [Netlink.Route(destination: IPPrefix("10.2.0.0/16")!, linkIndex: 7, scope: Netlink.Route.scopeLink)])
    }

    @Test func addroutesFallBackToTheInterfacesGatewayAndShowIt() throws {
        let p = try RouteOverridePlan(conf(#","addroutes":[{"dst":"10.2.0.1/16","priority":5,"table":100}]"#),
                                      prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(added(p) == [Netlink.Route(destination: IPPrefix("10.2.0.0/16")!, gateway: IPAddress("10.1.0.1"), linkIndex: 7,
                                           priority: 5, table: 100)])
        #expect(p.result.routes.last?.gw == IPAddress("10.1.0.1"))
        #expect(deleted(p).isEmpty)
    }

    @Test func ecmpRoutesAreDeletedInAnyMainTableRouteAndAddedAsOneMultipathRoute() throws {
        let p = try RouteOverridePlan(conf(#"""
            ,"delecmproutes":[{"dst":"172.16.0.0/12"}],"addecmproutes":[{"dst":"10.3.0.0/16","gws":["10.1.0.2","10.1.0.3"]}]
            """#), prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(deleted(p) == ["172.16.0.0/12"])
        #expect(added(p) == [Netlink.Route(destination: IPPrefix("10.3.0.0/16")!, linkIndex: 0,
                                           multipath: [.init(gateway: IPAddress("10.1.0.2"), linkIndex: 7),
                                                       .init(gateway: IPAddress("10.1.0.3"), linkIndex: 7)])])
        #expect(p.result.routes.filter { $0.dst.description == "10.3.0.0/16" }.count == 2)
    }

    @Test func aRouteAddedThenDeletedIsPlannedInThatOrder() throws {
        let p = try RouteOverridePlan(conf(#","addroutes":[{"dst":"10.5.0.0/16"}],"delecmproutes":[{"dst":"10.5.0.0/16"}]"#),
                                      prev: prev, kernel: kernel, sandbox: sandbox)
        #expect(p.changes.count == 2 && added(p).count == 1 && deleted(p) == ["10.5.0.0/16"])
        #expect(!p.result.routes.contains { $0.dst.description == "10.5.0.0/16" })
    }

    @Test func ecmpGatewaysMustBeOnTheInterface() throws {
        let e = #expect(throws: CNIError.self) {
            try RouteOverridePlan(conf(#","addecmproutes":[{"dst":"10.3.0.0/16","gws":["10.7.0.1"]}]"#),
                                  prev: prev, kernel: kernel, sandbox: sandbox)
        }
        #expect(e?.code == 7)
    }

    @Test func checkFindsRoutesNotRemovedAndRoutesMissing() throws {
        let mine = kernel.filter { RouteOverridePlan.isOnSandbox($0, [7]) }
        #expect(RouteOverridePlan.checkProblem(try conf(""), prev: prev, mine: mine) == nil)
        #expect(RouteOverridePlan.checkProblem(try conf(#","delroutes":[{"dst":"192.168.0.0/16"}]"#), prev: prev, mine: mine)?
            .contains("not removed") == true)
        #expect(RouteOverridePlan.checkProblem(try conf(""), prev: prev, mine: Array(mine.dropFirst()))?
            .contains("failed to match route 0.0.0.0/0") == true)
    }
}

@Suite struct BridgePlanTests {
    func conf(_ extra: String) throws -> BridgeConfig {
        try BridgeConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"bridge"\#(extra)}"#.utf8)), args: CNIArgs())
    }

    func result() -> CNIResult {
        CNIResult(ips: [.init(address: IPPrefix("10.1.0.5/24")!, interface: 2),
                        .init(address: IPPrefix("fd00::5/64")!, interface: 2)])
    }

    @Test func isGatewayTakesTheSubnetsFirstAddress() throws {
        var r = result()
        let gws = BridgePlan.gateways(&r, try conf(#","isGateway":true"#))
        #expect(gws.map(\.description) == ["10.1.0.1/24", "fd00::1/64"])
        #expect(r.ips.map { $0.gateway?.description } == ["10.1.0.1", "fd00::1"])
        #expect(r.routes.isEmpty)
    }

    @Test func isDefaultGatewayAddsOneDefaultRoutePerFamilyUnlessIPAMGaveOne() throws {
        var r = result()
        r.routes = [.init(dst: IPPrefix("0.0.0.0/0")!, gw: IPAddress("10.1.0.254"))]
        _ = BridgePlan.gateways(&r, try conf(#","isDefaultGateway":true"#))
        #expect(r.routes.map(\.dst.description) == ["0.0.0.0/0", "::/0"])
        #expect(r.routes[1].gw == IPAddress("fd00::1"))
    }

    @Test func ipamGatewaysStayAndNothingGoesOnTheBridgeWithoutIsGateway() throws {
        var r = result()
        r.ips[0].gateway = IPAddress("10.1.0.254")
        #expect(BridgePlan.gateways(&r, try conf("")).isEmpty)
        #expect(r.ips[0].gateway == IPAddress("10.1.0.254") && r.ips[1].gateway == nil)
    }

    @Test func portVLANs() {
        #expect(BridgePlan.portVLANs(vlan: 0, trunk: []).isEmpty)
        #expect(BridgePlan.portVLANs(vlan: 100, trunk: []) == [BridgeVLANRange(100...100, pvid: true, untagged: true)])
        // A trunk's native VLAN is 1 unless an access VLAN is set; listed trunk IDs fold into runs.
        #expect(BridgePlan.portVLANs(vlan: 0, trunk: [1, 5, 6, 7, 9]) == [
            BridgeVLANRange(1...1, pvid: true, untagged: true), BridgeVLANRange(5...7), BridgeVLANRange(9...9)])
        #expect(BridgePlan.portVLANs(vlan: 6, trunk: [5, 6, 7]) == [
            BridgeVLANRange(6...6, pvid: true, untagged: true), BridgeVLANRange(5...5), BridgeVLANRange(7...7)])
    }

    @Test func vlanCheck() {
        let ok = [BridgeVLAN(id: 100, pvid: true, untagged: true), BridgeVLAN(id: 200)]
        #expect(BridgePlan.vlanProblem(port: "p", vlan: 100, trunk: [200], actual: ok) == nil)
        #expect(BridgePlan.vlanProblem(port: "p", vlan: 100, trunk: [200, 300], actual: ok)?.contains("missing trunk VLAN 300") == true)
        #expect(BridgePlan.vlanProblem(port: "p", vlan: 200, trunk: [], actual: ok)?.contains("VLAN 200 as PVID") == true)
        #expect(BridgePlan.vlanProblem(port: "p", vlan: 0, trunk: [], actual: []) == nil)
    }
}

@Suite struct ResultRouteTests {
    @Test func gatewayFallbackIsPerFamily() {
        let ips: [CNIResult.IPConfig] = [.init(address: IPPrefix("10.1.0.5/24")!),
                                         .init(address: IPPrefix("10.2.0.5/24")!, gateway: IPAddress("10.2.0.1")),
                                         .init(address: IPPrefix("fd00::5/64")!, gateway: IPAddress("fd00::1"))]
        #expect(CNIResult.Route(dst: IPPrefix("0.0.0.0/0")!).gateway(fallingBackTo: ips) == IPAddress("10.2.0.1"))
        #expect(CNIResult.Route(dst: IPPrefix("::/0")!).gateway(fallingBackTo: ips) == IPAddress("fd00::1"))
        #expect(CNIResult.Route(dst: IPPrefix("0.0.0.0/0")!, gw: IPAddress("10.1.0.9")).gateway(fallingBackTo: ips) == IPAddress("10.1.0.9"))
        #expect(CNIResult.Route(dst: IPPrefix("::/0")!).gateway(fallingBackTo: []) == nil)
    }

    @Test func kernelRouteMasksAndDefaultsToTheMainTable() {
        let r = CNIResult.Route(dst: IPPrefix("10.9.1.1/16")!, priority: 10, scope: 200)
        #expect(r.kernelRoute(linkIndex: 3, gateway: nil) ==
                Netlink.Route(destination: IPPrefix("10.9.0.0/16")!, linkIndex: 3, priority: 10, table: 254, scope: 200))
        let t = CNIResult.Route(dst: IPPrefix("10.9.0.0/16")!, table: 7)
        #expect(t.kernelRoute(linkIndex: 3, gateway: IPAddress("10.0.0.1"), scope: 253).table == 7)
        #expect(t.kernelRoute(linkIndex: 3, gateway: IPAddress("10.0.0.1"), scope: 253).scope == 253)
    }
}
