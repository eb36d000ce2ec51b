import CNI
import IPAddressing
import Netlink

extension CNIResult.Route {
    /// The route's own gateway, else that of the first address of its family that has one (the
    /// reference's ConfigureIface fallback, also used by its CHECK and by route-override).
    public func gateway(fallingBackTo ips: [CNIResult.IPConfig]) -> IPAddress? {
        gw ?? ips.first { $0.address.family == dst.family && $0.gateway != nil }?.gateway
    }

    /// The kernel route for this result route through `linkIndex`: the destination masked, the
    /// result's priority, table (main when unset) and scope (`scope` overrides, e.g. link scope
    /// for a gateway-less route).
    public func kernelRoute(linkIndex: Int32, gateway: IPAddress?, scope override: UInt8? = nil) -> Netlink.Route {
        Netlink.Route(destination: dst.masked, gateway: gateway, linkIndex: linkIndex,
                      priority: UInt32(clamping: priority), table: table.map { UInt32(clamping: $0) } ?? Netlink.Route.mainTable,
                      scope: override ?? scope.map { UInt8(clamping: $0) } ?? Netlink.Route.scopeUniverse)
    }
}
