import CNI
import IPAddressing
import InterfaceSetup
import NetNS
import Netlink
import PluginKit

/// route-override: a chained plugin that rewrites the routes of the interfaces the previous
/// plugins put in the pod, and prints their result with the routes changed accordingly.
/// Order: delroutes (or flushroutes), flushgateway, addroutes, delecmproutes, addecmproutes.
/// Every kernel change is undone if a later one fails.
public struct RouteOverridePlugin: Plugin {
    public let about = "swift-cni route-override: adjust a pod's routes after the plugins before it"
    public init() {}

    func sandboxInterfaces(_ prev: CNIResult, _ r: PluginRequest, _ socket: NetlinkSocket) throws -> [Link] {
        var names = prev.interfaces.filter { !$0.sandbox.isEmpty }.map(\.name)
        // A result naming no interface (an IPAM-only chain): the attachment's own interface.
        if names.isEmpty { names = [r.ifName] }
        return try names.compactMap { try socket.link(named: $0) }
    }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try RouteOverrideConfig(r.config)
        guard var result = try r.config.prevResult() else {
            throw CNIError(.invalidNetworkConfig, "route-override: no prevResult",
                           details: "route-override is a chained plugin: put it after a plugin that creates an interface")
        }
        let pod = try PodLink.openNamespace(r.netns)
        let socket = try pod.run { try NetlinkSocket() }
        let links = try sandboxInterfaces(result, r, socket)
        guard let first = links.first else {
            throw CNIError(.invalidNetworkConfig, "route-override: none of the result's interfaces is in \(r.netns)")
        }
        let indices = Set(links.map(\.index))
        // Gateways per family of the first interface, before flushgateway clears them.
        let firstIPs = (try? InterfaceConfigurator.addresses(of: first.name, in: result)) ?? []

        // delroutes act on destinations the previous result has (as the reference); flushgateway's
        // default routes go whatever the result says.
        let known = Set(result.routes.map(\.dst.masked))
        var delDsts = conf.delRoutes.map(\.dst.masked).filter(known.contains)
        if conf.flushGateway {
            delDsts += [IPPrefix("0.0.0.0/0")!, IPPrefix("::/0")!]
            for i in result.ips.indices { result.ips[i].gateway = nil }
        }

        return try Rollback.run { rollback in
            func kernelRoutes() throws -> [Netlink.Route] {
                try socket.routes(family: .v4) + socket.routes(family: .v6)
            }
            func delete(_ route: Netlink.Route) throws {
                do { try socket.deleteRoute(route) } catch where error.isNotFound { return } catch {
                    throw CNIError(.systemFailure, "route-override: failed to delete route \(route.destination)", details: "\(error)")
                }
                rollback.onFailure("restore \(route.destination)") { try socket.addRoute(route) }
            }
            func add(_ route: Netlink.Route) throws {
                do { try socket.addRoute(route) } catch {
                    throw CNIError(.systemFailure, "route-override: failed to add route \(route.destination)", details: "\(error)")
                }
                rollback.onFailure("remove \(route.destination)") { try socket.deleteRoute(route) }
            }
            let onSandbox = { (k: Netlink.Route) in
                k.table == 254 && (indices.contains(k.linkIndex) || k.multipath.contains { indices.contains($0.linkIndex) })
            }

            if conf.flushRoutes {
                // Every default route and every gateway route to a non-link-local destination.
                for k in try kernelRoutes() where onSandbox(k) && k.scope != 253 {
                    let linkLocal = k.destination.family == .v6 ? IPPrefix("fe80::/10")!.contains(k.destination.network)
                                                                : IPPrefix("169.254.0.0/16")!.contains(k.destination.network)
                    if k.destination.length == 0 || (k.gateway != nil && !linkLocal) { try delete(k) }
                }
                result.routes = []
            } else {
                for k in try kernelRoutes() where onSandbox(k) && delDsts.contains(k.destination) { try delete(k) }
                result.routes.removeAll { delDsts.contains($0.dst.masked) }
            }
            for route in conf.addRoutes {
                let gw = route.gw ?? (conf.flushGateway ? nil
                    : firstIPs.first { $0.address.family == route.dst.family && $0.gateway != nil }?.gateway)
                try add(Netlink.Route(destination: route.dst.masked, gateway: gw, linkIndex: first.index,
                                      priority: UInt32(max(0, route.priority)), table: UInt32(route.table ?? 254),
                                      scope: gw == nil ? 253 : 0))
                var shown = route
                shown.gw = gw
                result.routes.append(shown)
            }
            for e in conf.delECMPRoutes {
                for k in try kernelRoutes() where k.destination == e.dst && k.table == 254 { try delete(k) }
                result.routes.removeAll { $0.dst.masked == e.dst }
            }
            if !conf.addECMPRoutes.isEmpty {
                let connected = try socket.addresses(index: first.index).map(\.prefix)
                for e in conf.addECMPRoutes {
                    guard !e.gateways.isEmpty else { throw CNIError.invalidConfig("addecmproutes: gws must not be empty") }
                    for gw in e.gateways where !connected.contains(where: { $0.contains(gw) }) {
                        throw CNIError.invalidConfig("addecmproutes: gw \(gw) is not reachable via \(first.name)")
                    }
                    try add(Netlink.Route(destination: e.dst, linkIndex: 0,
                                          multipath: e.gateways.map { .init(gateway: $0, linkIndex: first.index) }))
                    for gw in e.gateways { result.routes.append(CNIResult.Route(dst: e.dst, gw: gw)) }
                }
            }
            return result
        }
    }

    /// Nothing to undo: the pod's routes go with the pod (as the reference).
    public func del(_ r: PluginRequest) throws {}

    /// Deleted destinations are gone from the sandbox interfaces; the result's routes are there
    /// with their gateways. An unrelated covering route (a default route) is no reason to fail.
    public func check(_ r: PluginRequest) throws {
        let conf = try RouteOverrideConfig(r.config)
        if conf.skipCheck { return }
        guard let prev = try r.config.prevResult() else { throw CNIError.invalidConfig("Required prevResult missing") }
        let pod = try PodLink.openNamespace(r.netns)
        let socket = try pod.run { try NetlinkSocket() }
        let links = try sandboxInterfaces(prev, r, socket)
        let indices = Set(links.map(\.index))
        let kernel = try socket.routes(family: .v4) + socket.routes(family: .v6)
        let mine = kernel.filter { $0.table == 254 && (indices.contains($0.linkIndex) || $0.multipath.contains { indices.contains($0.linkIndex) }) }
        var deleted = conf.delRoutes.map(\.dst.masked) + conf.delECMPRoutes.map(\.dst)
        if conf.flushGateway { deleted += [IPPrefix("0.0.0.0/0")!, IPPrefix("::/0")!] }
        for dst in deleted where mine.contains(where: { $0.destination == dst }) {
            throw CNIError.invalidConfig("route-override: route is not removed: \(dst)")
        }
        let gateways = prev.ips.compactMap(\.gateway)
        for route in prev.routes {
            let candidates = mine.filter { $0.destination == route.dst.masked }
            let gws = candidates.flatMap { $0.multipath.isEmpty ? [$0.gateway] : $0.multipath.map(\.gateway) }
            let ok = route.gw.map { gw in gws.contains(gw) } ?? (gws.contains(nil) || gws.contains { $0.map(gateways.contains) ?? false })
            if !ok {
                throw CNIError.invalidConfig("route-override: failed to match route \(route.dst) via \(route.gw.map { "\($0)" } ?? "-")")
            }
        }
    }
}
