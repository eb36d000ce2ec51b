import CNI
import IPAddressing
import InterfaceSetup
import Netlink

/// route-override's decisions as plain values (STYLE habit 4), tested without root: from the
/// config, the previous result and the routes the kernel holds, the route changes in the order
/// they are made, and the result to print.
/// Order: delroutes (or flushroutes), flushgateway, addroutes, delecmproutes, addecmproutes.
struct RouteOverridePlan: Equatable {
    enum Change: Equatable {
        case delete(Netlink.Route)
        case add(Netlink.Route)
    }

    /// The pod's interfaces the previous plugins made (indices), and the first of them: where
    /// added routes go.
    struct Sandbox {
        var indices: Set<Int32>
        var first: Int32
        var firstName: String
        /// The first interface's addresses in the result (for the gateway fallback).
        var firstIPs: [CNIResult.IPConfig]
        /// The prefixes on the first interface (ECMP gateways must be reachable there).
        var connected: [IPPrefix]
    }

    private(set) var changes: [Change] = []
    private(set) var result: CNIResult
    /// The kernel's routes as they will be after the changes so far.
    private var kernel: [Netlink.Route]

    static let defaultRoutes = [IPPrefix("0.0.0.0/0")!, IPPrefix("::/0")!]

    init(_ conf: RouteOverrideConfig, prev: CNIResult, kernel: [Netlink.Route], sandbox: Sandbox) throws(CNIError) {
        (result, self.kernel) = (prev, kernel)
        // delroutes act on destinations the previous result has (as the reference); flushgateway's
        // default routes go whatever the result says.
        let known = Set(prev.routes.map(\.dst.masked))
        var delDsts = conf.delRoutes.map(\.dst.masked).filter(known.contains)
        if conf.flushGateway {
            delDsts += Self.defaultRoutes
            for i in result.ips.indices { result.ips[i].gateway = nil }
        }
        if conf.flushRoutes {
            flushRoutes(sandbox)
        } else {
            for k in self.kernel where Self.isOnSandbox(k, sandbox.indices) && delDsts.contains(k.destination) { delete(k) }
            result.routes.removeAll { delDsts.contains($0.dst.masked) }
        }
        for route in conf.addRoutes {
            let gw = route.gw ?? (conf.flushGateway ? nil : route.gateway(fallingBackTo: sandbox.firstIPs))
            add(route.kernelRoute(linkIndex: sandbox.first, gateway: gw,
                                  scope: gw == nil ? Netlink.Route.scopeLink : Netlink.Route.scopeUniverse))
            var shown = route
            shown.gw = gw
            result.routes.append(shown)
        }
        for e in conf.delECMPRoutes {
            for k in self.kernel where k.destination == e.dst && k.table == Netlink.Route.mainTable { delete(k) }
            result.routes.removeAll { $0.dst.masked == e.dst }
        }
        for e in conf.addECMPRoutes { try addECMP(e, sandbox) }
    }

    /// A main-table route through one of the sandbox interfaces (or a next hop of one).
    static func isOnSandbox(_ k: Netlink.Route, _ indices: Set<Int32>) -> Bool {
        k.table == Netlink.Route.mainTable && (indices.contains(k.linkIndex) || k.multipath.contains { indices.contains($0.linkIndex) })
    }

    /// flushroutes: every default route and every gateway route to a non-link-local destination
    /// of the sandbox interfaces goes; the result keeps no routes.
    private mutating func flushRoutes(_ sandbox: Sandbox) {
        for k in kernel where Self.isOnSandbox(k, sandbox.indices) && k.scope != Netlink.Route.scopeLink {
            let linkLocal = k.destination.family == .v6 ? IPPrefix("fe80::/10")!.contains(k.destination.network)
                                                        : IPPrefix("169.254.0.0/16")!.contains(k.destination.network)
            if k.destination.length == 0 || (k.gateway != nil && !linkLocal) { delete(k) }
        }
        result.routes = []
    }

    private mutating func addECMP(_ e: RouteOverrideConfig.ECMPRoute, _ sandbox: Sandbox) throws(CNIError) {
        guard !e.gateways.isEmpty else { throw CNIError.invalidConfig("addecmproutes: gws must not be empty") }
        for gw in e.gateways where !sandbox.connected.contains(where: { $0.contains(gw) }) {
            throw CNIError.invalidConfig("addecmproutes: gw \(gw) is not reachable via \(sandbox.firstName)")
        }
        add(Netlink.Route(destination: e.dst, linkIndex: 0,
                          multipath: e.gateways.map { .init(gateway: $0, linkIndex: sandbox.first) }))
        for gw in e.gateways { result.routes.append(CNIResult.Route(dst: e.dst, gw: gw)) }
    }

    private mutating func delete(_ k: Netlink.Route) {
        changes.append(.delete(k))
        kernel.removeAll { $0 == k }
    }

    private mutating func add(_ k: Netlink.Route) {
        changes.append(.add(k))
        kernel.append(k)
    }

    /// CHECK: deleted destinations are gone from the sandbox interfaces (`mine`: their routes), and
    /// the result's routes are there with their gateways. An unrelated covering route (a default
    /// route) is no reason to fail. Returns what is wrong, nil when all is as the result says.
    static func checkProblem(_ conf: RouteOverrideConfig, prev: CNIResult, mine: [Netlink.Route]) -> String? {
        var deleted = conf.delRoutes.map(\.dst.masked) + conf.delECMPRoutes.map(\.dst)
        if conf.flushGateway { deleted += defaultRoutes }
        if let dst = deleted.first(where: { dst in mine.contains { $0.destination == dst } }) {
            return "route-override: route is not removed: \(dst)"
        }
        let gateways = prev.ips.compactMap(\.gateway)
        for route in prev.routes {
            let candidates = mine.filter { $0.destination == route.dst.masked }
            let gws = candidates.flatMap { $0.multipath.isEmpty ? [$0.gateway] : $0.multipath.map(\.gateway) }
            let ok = route.gw.map { gw in gws.contains(gw) } ?? (gws.contains(nil) || gws.contains { $0.map(gateways.contains) ?? false })
            if !ok { return "route-override: failed to match route \(route.dst) via \(route.gw.map { "\($0)" } ?? "-")" }
        }
        return nil
    }
}
