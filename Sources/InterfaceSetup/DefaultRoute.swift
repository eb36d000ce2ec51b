import CNI
import IPAddressing
import Netlink

/// The link of a namespace's IPv4 default route (the reference's default `master`).
public enum DefaultRoute {
    public static func interface(_ socket: NetlinkSocket) throws -> String {
        let routes = try socket.routes(family: .v4).filter { $0.destination.length == 0 && $0.table == 254 }
        guard let r = routes.min(by: { $0.priority < $1.priority }), r.linkIndex > 0,
              let link = try socket.link(index: r.linkIndex) else {
            throw CNIError(.invalidNetworkConfig, "failed to find the default route's interface for master; set \"master\"")
        }
        return link.name
    }
}
