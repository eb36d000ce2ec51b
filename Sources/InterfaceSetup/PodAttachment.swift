import CNI
import IPAddressing
import LinuxSystem
import NetNS
import Netlink
import PluginKit

/// One attachment of a link in a pod, as the link plugins (macvlan, ipvlan, host-device, bridge)
/// make it: the pod's namespace (CNI_NETNS) with a netlink socket opened inside it once, and the
/// steps they share — create the link, take IPAM's addresses, configure, delete, check.
public struct PodAttachment {
    public let request: PluginRequest
    public let namespace: NetworkNamespace
    /// A socket inside the pod's namespace: all of the pod's link work goes through it.
    public let socket: NetlinkSocket

    public var ifName: String { request.ifName }

    /// Opens CNI_NETNS for ADD or CHECK (code 4 when it is not a usable namespace).
    public init(_ r: PluginRequest) throws {
        request = r
        do { namespace = try NetworkNamespace(path: r.netns) } catch {
            // A path that is no namespace is the runtime's mistake (4); a failed call keeps its 101.
            throw CNIError(code: error.cniError.code, msg: "failed to open netns \"\(r.netns)\"", details: error.description)
        }
        let ns = namespace
        socket = try step("open a netlink socket in \(r.netns)") { try ns.run { try NetlinkSocket() } }
    }

    /// CNI_IFNAME must not be taken in the pod (code 7, as the reference).
    public func requireFreeName() throws {
        if try socket.link(named: ifName) != nil {
            throw CNIError(.invalidNetworkConfig, "container veth name provided (\(ifName)) already exists")
        }
    }

    /// Creates the pod's link as CNI_IFNAME with `create(name)` — directly in the pod's namespace,
    /// and registers its deletion. Kernels before 6.15 check a new link's name in the namespace
    /// of the socket that asks, not in the target one (fixed by ec061546c6cf): there, a host
    /// link of the same name makes the create fail with EEXIST although the pod has none, and
    /// the link is made under a temporary `veth%08x` name and renamed inside the pod instead (as
    /// the reference always does). Either way DEL finds it: by its final name, or — killed
    /// between create and rename — it is a temporary-named link that goes with the pod.
    public func createLink(_ what: String, rollback: Rollback, _ create: (String) throws -> Void) throws -> Link {
        try requireFreeName()
        let name = ifName, socket = socket
        do {
            try create(name)
        } catch let e as NetlinkError where e.isExists {
            return try createRenamed(what, rollback: rollback, create)
        } catch {
            throw CNIError(code: CNIError.code(of: error), msg: "failed to create \(what) \"\(name)\"", details: "\(error)")
        }
        rollback.onFailure("delete the new link \(name)") {
            if let l = try socket.link(named: name) { try socket.deleteLinkIfPresent(index: l.index) }
        }
        guard let link = try socket.link(named: name) else {
            throw CNIError(.systemFailure, "link \(name) vanished after its creation")
        }
        return link
    }

    /// The pre-6.15 path: a temporary name (free in both namespaces), then a rename in the pod.
    func createRenamed(_ what: String, rollback: Rollback, _ create: (String) throws -> Void) throws -> Link {
        let name = ifName, socket = socket
        let temp = Link.randomVethName()
        try step("create \(what) \"\(temp)\" (to be renamed \"\(name)\")") { try create(temp) }
        rollback.onFailure("delete the new link \(name)") {
            if let l = try socket.link(named: temp) ?? socket.link(named: name) { try socket.deleteLinkIfPresent(index: l.index) }
        }
        guard let created = try socket.link(named: temp) else {
            throw CNIError(.systemFailure, "link \(temp) vanished after its creation")
        }
        try step("rename \"\(temp)\" to \"\(name)\"") { try socket.setLink(index: created.index, .init(name: name)) }
        guard let link = try socket.link(index: created.index) else { throw CNIError(.systemFailure, "link \(name) vanished") }
        return link
    }

    /// The result of an attachment with the one interface `link` in the pod (index 0).
    public func result(for link: Link, dns: DNS) -> CNIResult {
        CNIResult(interfaces: [.init(name: link.name, mac: link.mac?.description ?? "", sandbox: request.netns)], dns: dns)
    }

    /// Adds the IPAM delegate's addresses (for `interface`, the pod's link in the result) and
    /// routes to `result`, its DEL registered first so that even a delegate printing garbage after
    /// reserving is released. Returns the delegate's own result (its DNS, for the bridge).
    @discardableResult
    public func addIPAM(_ type: String, to result: inout CNIResult, interface: Int = 0,
                        delegate: Delegate, rollback: Rollback) throws -> CNIResult {
        let r = request
        rollback.onFailure("IPAM DEL") { try delegate.del(type, r) }
        let ipam = try delegate.add(type, r)
        guard !ipam.ips.isEmpty else { throw CNIError(.delegateFailure, "IPAM plugin returned missing IP config") }
        result.ips = ipam.ips.map { var ip = $0; ip.interface = interface; return ip }
        result.routes = ipam.routes
        return ipam
    }

    /// Announces the address when the link comes up (gratuitous ARP / unsolicited NA), as the
    /// reference does instead of sending them itself.
    /// arp_notify goes through netlink (Netlink's DevConf); IPv6 has no netlink setter for
    /// ndisc_notify, whose key is missing when the kernel has no IPv6.
    public func enableNotify() throws {
        let name = ifName, socket = socket
        try step("enable ARP/NA notifications on \"\(name)\"") {
            try socket.setIPv4Conf(link: name, [(.arpNotify, 1)])
            try namespace.run {
                do { try Sysctl.set("net/ipv6/conf/\(name)/ndisc_notify", "1") } catch let e as SystemError where e.isNotFound {}
            }
        }
    }

    /// The result's addresses and routes on the link (which comes up).
    public func configure(_ link: Link, _ result: CNIResult) throws {
        try InterfaceConfigurator(namespace: namespace, socket: socket).configure(link, result)
    }

    public func setUp(_ link: Link) throws {
        try step("set \"\(link.name)\" up") { try socket.setLink(index: link.index, .init(up: true)) }
    }

    /// The DEL of a link the plugin created in the pod: nothing to do when the namespace or the
    /// link is already gone (only "not found" means gone; any other failure is reported).
    public static func deleteLink(named ifName: String, netns: String) throws {
        guard !netns.isEmpty, let pod = try NetworkNamespace.ifPresent(path: netns) else { return }
        let socket = try step("open a netlink socket in \(netns)") { try pod.run { try NetlinkSocket() } }
        guard let link = try socket.link(named: ifName) else { return }
        try step("delete \"\(ifName)\"") { try socket.deleteLinkIfPresent(index: link.index) }
    }
}

/// The host link a pod link hangs off (macvlan's and ipvlan's `master`).
public enum MasterLink {
    /// The master by name, and an MTU that must fit in it (0: the kernel's choice).
    public static func find(named name: String, socket: NetlinkSocket, mtu: Int) throws -> Link {
        guard let master = try socket.link(named: name) else {
            throw CNIError(.invalidNetworkConfig, "failed to lookup master \"\(name)\"")
        }
        if mtu > Int(master.mtu) {
            throw CNIError.invalidConfig("invalid MTU \(mtu), must be [0, master MTU(\(master.mtu))]")
        }
        return master
    }

    /// The link of the namespace's IPv4 default route (the reference's default `master`).
    public static func defaultRouteInterface(_ socket: NetlinkSocket) throws -> String {
        let routes = try socket.defaultRoutes(family: .v4)
        guard let r = routes.min(by: { $0.priority < $1.priority }), r.linkIndex > 0,
              let link = try socket.link(index: r.linkIndex) else {
            throw CNIError(.invalidNetworkConfig, "failed to find the default route's interface for master; set \"master\"")
        }
        return link.name
    }
}


/// What a CHECK of a pod link starts from and the checks the link plugins share: the previous
/// result, its interface for CNI_IFNAME (which must be in CNI_NETNS), and that link as the pod's
/// kernel reports it.
public struct PodLinkCheck {
    public let prev: CNIResult
    public let iface: CNIResult.Interface
    public let pod: PodAttachment
    public let link: Link

    public init(_ r: PluginRequest) throws {
        guard let prev = try r.config.prevResult() else { throw CNIError.invalidConfig("Required prevResult missing") }
        guard let iface = prev.interfaces.first(where: { $0.name == r.ifName }) else {
            throw CNIError.invalidConfig("prevResult has no interface \(r.ifName)")
        }
        if iface.sandbox != r.netns {
            throw CNIError.invalidConfig("Sandbox in prevResult \(iface.sandbox) doesn't match configured netns: \(r.netns)")
        }
        let pod = try PodAttachment(r)
        guard let link = try pod.socket.link(named: r.ifName) else {
            throw CNIError.invalidConfig("Container Interface name in prevResult: \(r.ifName) not found")
        }
        (self.prev, self.iface, self.pod, self.link) = (prev, iface, pod, link)
    }

    /// The link's MAC is the one the result reported (when it reported one).
    public func checkMAC() throws(CNIError) {
        guard !iface.mac.isEmpty else { return }
        if link.mac.map({ "\($0)" }) != MACAddress(iface.mac).map({ "\($0)" }) {
            throw CNIError.invalidConfig("Interface MAC \(link.mac.map { "\($0)" } ?? "") does not match prevResult \(iface.mac)")
        }
    }

    /// The result's addresses and routes for the link (the reference's ValidateExpected*).
    public func checkAddressesAndRoutes() throws {
        let ips = try InterfaceConfigurator.addresses(of: link.name, in: prev)
        try Validation.addresses(ips, on: link, actual: pod.socket.addresses(index: link.index))
        var kernel: [Netlink.Route] = []
        for f in Set(prev.routes.map(\.dst.family)) { kernel += try pod.socket.routes(family: f) }
        try Validation.routes(prev.routes, ips: ips, link: link, actual: kernel)
    }
}
