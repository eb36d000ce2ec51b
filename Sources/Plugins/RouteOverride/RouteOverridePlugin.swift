import CNI
import IPAddressing
import InterfaceSetup
import Netlink
import PluginKit

/// route-override: a chained plugin that rewrites the routes of the interfaces the previous
/// plugins put in the pod, and prints their result with the routes changed accordingly. What
/// changes is decided by RouteOverridePlan; this applies it, each kernel change undone if a
/// later one fails.
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
        guard let prev = try r.config.prevResult() else {
            throw CNIError(.invalidNetworkConfig, "route-override: no prevResult",
                           details: "route-override is a chained plugin: put it after a plugin that creates an interface")
        }
        let pod = try PodAttachment(r)
        let socket = pod.socket
        let links = try sandboxInterfaces(prev, r, socket)
        guard let first = links.first else {
            throw CNIError(.invalidNetworkConfig, "route-override: none of the result's interfaces is in \(r.netns)")
        }
        let sandbox = RouteOverridePlan.Sandbox(
            indices: Set(links.map(\.index)), first: first.index, firstName: first.name,
            // Gateways per family of the first interface, before flushgateway clears them.
            firstIPs: (try? InterfaceConfigurator.addresses(of: first.name, in: prev)) ?? [],
            connected: conf.addECMPRoutes.isEmpty ? [] : try socket.addresses(index: first.index).map(\.prefix))
        let plan = try RouteOverridePlan(conf, prev: prev, kernel: socket.routes(family: .v4) + socket.routes(family: .v6),
                                         sandbox: sandbox)
        try Rollback.run { rollback in
            for change in plan.changes {
                switch change {
                case .delete(let route):
                    let deleted = try step("delete route \(route.destination) (route-override)") { () throws -> Bool in
                        do { try socket.deleteRoute(route) } catch let e as NetlinkError where e.isNotFound { return false }
                        return true
                    }
                    if deleted { rollback.onFailure("restore \(route.destination)") { try socket.addRoute(route) } }
                case .add(let route):
                    try step("add route \(route.destination) (route-override)") { try socket.addRoute(route) }
                    rollback.onFailure("remove \(route.destination)") { try socket.deleteRoute(route) }
                }
            }
        }
        return plan.result
    }

    /// Nothing to undo: the pod's routes go with the pod (as the reference).
    public func del(_ r: PluginRequest) throws {}

    public func check(_ r: PluginRequest) throws {
        let conf = try RouteOverrideConfig(r.config)
        if conf.skipCheck { return }
        guard let prev = try r.config.prevResult() else { throw CNIError.invalidConfig("Required prevResult missing") }
        let pod = try PodAttachment(r)
        let indices = Set(try sandboxInterfaces(prev, r, pod.socket).map(\.index))
        let kernel = try pod.socket.routes(family: .v4) + pod.socket.routes(family: .v6)
        let mine = kernel.filter { RouteOverridePlan.isOnSandbox($0, indices) }
        if let problem = RouteOverridePlan.checkProblem(conf, prev: prev, mine: mine) { throw CNIError.invalidConfig(problem) }
    }
}
