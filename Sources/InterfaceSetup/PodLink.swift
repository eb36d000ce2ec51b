import CNI
import IPAddressing
import NetNS
import Netlink
import PluginKit

/// Steps every "virtual link in the pod" plugin (macvlan, ipvlan, …) shares.
public enum PodLink {
    /// Creates a link under a temporary name (`create(tempName)`, which makes it directly in the
    /// pod namespace or from inside it), registers its deletion, and renames it to `ifName` inside
    /// the pod, so it never collides with a host link of that name.
    public static func create(named ifName: String, podSocket: NetlinkSocket, rollback: Rollback,
                              _ create: (String) throws -> Void) throws -> Link {
        if try podSocket.link(named: ifName) != nil {
            throw CNIError(.invalidNetworkConfig, "container veth name provided (\(ifName)) already exists")
        }
        let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temp = "veth" + String(repeating: "0", count: 8 - hex.count) + hex
        try create(temp)
        rollback.onFailure("delete the new link") {
            if let l = try podSocket.link(named: temp) ?? podSocket.link(named: ifName) { try? podSocket.deleteLink(index: l.index) }
        }
        guard let created = try podSocket.link(named: temp) else {
            throw CNIError(.systemFailure, "link \(temp) vanished after creation")
        }
        do { try podSocket.setLink(index: created.index, .init(name: ifName)) } catch {
            throw CNIError(.systemFailure, "failed to rename the new link to \"\(ifName)\"", details: "\(error)")
        }
        guard let link = try podSocket.link(index: created.index) else {
            throw CNIError(.systemFailure, "link \(ifName) vanished")
        }
        return link
    }

    /// The result of an attachment with the one interface `link` in the pod (index 0).
    public static func result(for link: Link, _ r: PluginRequest, dns: DNS) -> CNIResult {
        CNIResult(interfaces: [.init(name: link.name, mac: link.mac?.description ?? "", sandbox: r.netns)], dns: dns)
    }

    /// Adds the IPAM delegate's addresses (for `interface`, the pod's link in the result) and
    /// routes to `result`, its DEL registered first so that even a delegate printing garbage after
    /// reserving is released. Returns the delegate's result.
    @discardableResult
    public static func addIPAM(_ type: String, to result: inout CNIResult, interface: Int = 0, _ r: PluginRequest,
                               delegate: Delegate, rollback: Rollback) throws -> CNIResult {
        rollback.onFailure("IPAM DEL") { try? delegate.del(type, r) }
        let ipam = try delegate.add(type, r)
        guard !ipam.ips.isEmpty else { throw CNIError(.delegateFailure, "IPAM plugin returned missing IP config") }
        result.ips = ipam.ips.map { var ip = $0; ip.interface = interface; return ip }
        result.routes = ipam.routes
        return ipam
    }

    /// Announces the address when the link comes up (gratuitous ARP / unsolicited NA), as the
    /// reference does instead of sending them itself.
    public static func enableNotify(_ ifName: String, in pod: NetworkNamespace) throws {
        try pod.run {
            try Sysctl.set("net/ipv4/conf/\(ifName)/arp_notify", "1")
            if (try? Sysctl.get("net/ipv6/conf/\(ifName)/ndisc_notify")) != nil {
                try Sysctl.set("net/ipv6/conf/\(ifName)/ndisc_notify", "1")
            }
        }
    }
}

extension PodLink {
    /// Opens CNI_NETNS for ADD/CHECK (code 4 when it is not a usable namespace).
    public static func openNamespace(_ path: String) throws(CNIError) -> NetworkNamespace {
        do { return try NetworkNamespace(path: path) } catch {
            throw CNIError(.invalidEnvironment, "failed to open netns \"\(path)\"", details: error.description)
        }
    }

    /// The DEL of a link the plugin created in the pod: nothing to do when the namespace or the
    /// link is already gone.
    public static func deleteLink(named ifName: String, netns: String) throws {
        guard !netns.isEmpty else { return }
        let pod: NetworkNamespace
        do { pod = try NetworkNamespace(path: netns) } catch NetNSError.notFound { return }
        let socket = try pod.run { try NetlinkSocket() }
        guard let link = try socket.link(named: ifName) else { return }
        do { try socket.deleteLink(index: link.index) } catch where error.isNotFound { return }
    }

    /// CHECK of a result's addresses and routes for the link (the reference's ValidateExpected*).
    public static func checkAddressesAndRoutes(_ prev: CNIResult, ifName: String, link: Link, socket: NetlinkSocket) throws {
        let ips = try InterfaceConfigurator.addresses(of: ifName, in: prev)
        try Validation.addresses(ips, on: link, actual: socket.addresses(index: link.index))
        var kernel: [Netlink.Route] = []
        for f in Set(prev.routes.map(\.dst.family)) { kernel += try socket.routes(family: f) }
        try Validation.routes(prev.routes, ips: ips, link: link, actual: kernel)
    }
}

extension PodLink {
    /// CHECK: the link's MAC is the one the result reported (when it reported one).
    public static func checkMAC(_ link: Link, _ iface: CNIResult.Interface) throws(CNIError) {
        guard !iface.mac.isEmpty else { return }
        if link.mac.map({ "\($0)" }) != MACAddress(iface.mac).map({ "\($0)" }) {
            throw CNIError.invalidConfig("Interface MAC \(link.mac.map { "\($0)" } ?? "") does not match prevResult \(iface.mac)")
        }
    }
}

extension PodLink {
    /// What a CHECK of a pod link starts from: the previous result, its interface for CNI_IFNAME
    /// (which must be in CNI_NETNS), and that link as the pod's kernel reports it.
    public struct Checked {
        public let prev: CNIResult
        public let iface: CNIResult.Interface
        public let pod: NetworkNamespace
        public let socket: NetlinkSocket
        public let link: Link
    }

    public static func checked(_ r: PluginRequest) throws -> Checked {
        guard let prev = try r.config.prevResult() else { throw CNIError.invalidConfig("Required prevResult missing") }
        guard let iface = prev.interfaces.first(where: { $0.name == r.ifName }) else {
            throw CNIError.invalidConfig("prevResult has no interface \(r.ifName)")
        }
        if iface.sandbox != r.netns {
            throw CNIError.invalidConfig("Sandbox in prevResult \(iface.sandbox) doesn't match configured netns: \(r.netns)")
        }
        let pod = try openNamespace(r.netns)
        let socket = try pod.run { try NetlinkSocket() }
        guard let link = try socket.link(named: r.ifName) else {
            throw CNIError.invalidConfig("Container Interface name in prevResult: \(r.ifName) not found")
        }
        return Checked(prev: prev, iface: iface, pod: pod, socket: socket, link: link)
    }

    /// The master link by name, and an MTU that must fit in it (0: the kernel's choice).
    public static func master(named name: String, socket: NetlinkSocket, mtu: Int) throws -> Link {
        guard let master = try socket.link(named: name) else {
            throw CNIError(.invalidNetworkConfig, "failed to lookup master \"\(name)\"")
        }
        if mtu > Int(master.mtu) {
            throw CNIError.invalidConfig("invalid MTU \(mtu), must be [0, master MTU(\(master.mtu))]")
        }
        return master
    }
}
