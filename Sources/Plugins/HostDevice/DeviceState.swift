import CNI
import Glibc
import IPAddressing
import LinuxSystem
import Netlink

/// How a device looked on the host before ADD took it: up or down, MTU, the addresses an
/// administrator gave it (permanent ones: not link-local, not SLAAC or DHCP leases) and the routes
/// through it that its addresses do not bring back by themselves (not the kernel's connected
/// routes, not router advertisements'). Moving a link to another namespace drops all of that; DEL
/// puts it back (the reference returns the device down and bare).
public struct DeviceState: Sendable, Equatable {
    public struct SavedRoute: Sendable, Equatable {
        public var route: Route
        public var `protocol`: UInt8
    }

    public var hostName: String
    /// Its MAC (to know it again) and its alias on the host (ADD's mark replaces it in the pod).
    public var mac: MACAddress?
    public var alias: String
    public var up: Bool
    public var mtu: UInt32
    public var addresses: [IPPrefix]
    public var routes: [SavedRoute]

    static let permanent: UInt32 = 0x80   // IFA_F_PERMANENT
    static let scopeLink: UInt8 = 253     // RT_SCOPE_LINK
    static let localTable: UInt32 = 255
    static let protocolsThatComeBack: Set<UInt8> = [1 /* redirect */, 2 /* kernel */, 9 /* ra */]

    /// The device's state as the host's socket sees it now.
    public static func capture(_ link: Link, socket: NetlinkSocket) throws(NetlinkError) -> DeviceState {
        let addresses = try socket.addresses(index: link.index)
            .filter { $0.flags & permanent != 0 && $0.scope != scopeLink }
            .map(\.prefix)
        var routes: [SavedRoute] = []
        for family in [IPAddress.Family.v4, .v6] {
            for r in try socket.routesWithOrigin(family: family)
            where r.isUnicast && r.route.multipath.isEmpty && r.route.linkIndex == link.index
                && r.route.table != localTable && !protocolsThatComeBack.contains(r.protocol) {
                routes.append(SavedRoute(route: r.route, protocol: r.protocol))
            }
        }
        return DeviceState(hostName: link.name, mac: link.mac, alias: link.alias, up: link.isUp, mtu: link.mtu,
                           addresses: addresses, routes: routes)
    }

    /// Whether `link` is this device (its name and MAC).
    public func isDevice(_ link: Link) -> Bool { link.name == hostName && (mac == nil || link.mac == mac) }

    /// Puts the state back on the device (now on the host as `link`): alias, MTU, up, addresses,
    /// then routes. What is already there is fine, so a retried DEL can run it again.
    public func restore(on link: Link, socket: NetlinkSocket) throws(CNIError) {
        if link.alias != alias {
            try step("set the alias of \(hostName) back") { try socket.setLink(index: link.index, .init(alias: alias)) }
        }
        if link.mtu != mtu {
            try step("set the MTU of \(hostName) back to \(mtu)") { try socket.setLink(index: link.index, .init(mtu: mtu)) }
        }
        if up && !link.isUp {
            try step("set \(hostName) up again") { try socket.setLink(index: link.index, .init(up: true)) }
        }
        for a in addresses {
            try step("give \(hostName) back \(a)") {
                do { try socket.addAddress(index: link.index, a, noDAD: true) } catch let e as NetlinkError where e.isExists {}
            }
        }
        for saved in routes {
            var r = saved.route
            r.linkIndex = link.index
            try step("restore the route to \(r.destination) through \(hostName)") {
                do { try socket.addRoute(r, protocol: saved.protocol) } catch let e as NetlinkError where e.isExists {}
            }
        }
    }

    var json: JSONValue {
        var routes: [JSONValue] = []
        for s in self.routes {
            var o = JSONObject()
            o["dst"] = .string(s.route.destination.description)
            o["table"] = .int(Int(s.route.table))
            o["scope"] = .int(Int(s.route.scope))
            o["metric"] = .int(Int(s.route.priority))
            o["protocol"] = .int(Int(s.protocol))
            if let gw = s.route.gateway { o["gw"] = .string(gw.description) }
            routes.append(.object(o))
        }
        var o = JSONObject()
        o["hostName"] = .string(hostName)
        if let mac { o["mac"] = .string(mac.description) }
        o["alias"] = .string(alias)
        o["up"] = .bool(up)
        o["mtu"] = .int(Int(mtu))
        o["addresses"] = .array(addresses.map { JSONValue.string($0.description) })
        o["routes"] = .array(routes)
        return .object(o)
    }

    init(hostName: String, mac: MACAddress?, alias: String, up: Bool, mtu: UInt32, addresses: [IPPrefix], routes: [SavedRoute]) {
        (self.hostName, self.mac, self.alias) = (hostName, mac, alias)
        (self.up, self.mtu, self.addresses, self.routes) = (up, mtu, addresses, routes)
    }

    init(json: JSONValue) throws(CNIError) {
        let r = JSONReader(json, path: "", code: .decodingFailure)
        guard let name = try r.string("hostName"), let up = try r.bool("up"), let mtu = try r.int("mtu", in: 0...Int(UInt32.max)) else {
            throw CNIError(.decodingFailure, "host-device: incomplete saved state")
        }
        (hostName, self.up, self.mtu) = (name, up, UInt32(mtu))
        mac = try r.string("mac").flatMap(MACAddress.init)
        alias = try r.string("alias") ?? ""
        addresses = []
        for a in try r.stringArray("addresses") ?? [] {
            guard let p = IPPrefix(a) else { throw CNIError(.decodingFailure, "host-device: saved address \"\(a)\"") }
            addresses.append(p)
        }
        routes = []
        for v in try r.array("routes") ?? [] {
            let o = JSONReader(v, path: "routes", code: .decodingFailure)
            guard let dst = try o.string("dst").flatMap(IPPrefix.init) else { throw CNIError(.decodingFailure, "host-device: saved route") }
            var route = Route(destination: dst, linkIndex: 0,
                              priority: UInt32(try o.int("metric", in: 0...Int(UInt32.max)) ?? 0),
                              table: UInt32(try o.int("table", in: 0...Int(UInt32.max)) ?? Int(Route.mainTable)),
                              scope: UInt8(try o.int("scope", in: 0...255) ?? 0))
            route.gateway = try o.string("gw").flatMap(IPAddress.init)
            routes.append(SavedRoute(route: route, protocol: UInt8(try o.int("protocol", in: 0...255) ?? 3)))
        }
    }
}

/// Where a device's state waits between ADD and DEL: `<dataDir>/<containerID>/<ifName>`, one small
/// JSON file written before the device moves and removed once DEL has put it back.
public struct DeviceStateStore: Sendable {
    public static let defaultDirectory = "/var/lib/cni/host-device"
    public let directory: String

    public init(directory: String) { self.directory = directory }

    func path(_ containerID: String, _ ifName: String) -> String { directory + "/" + containerID + "/" + ifName }

    public func save(_ state: DeviceState, containerID: String, ifName: String) throws(CNIError) {
        do {
            try FileSystem.makeDirectories(directory + "/" + containerID, mode: 0o700)
            try FileSystem.writeAtomically(path(containerID, ifName), state.json.serialized(), mode: 0o600)
        } catch {
            throw CNIError(.ioFailure, "host-device: cannot save the device's state", details: error.description)
        }
    }

    /// The saved state; nil when there is none.
    public func load(containerID: String, ifName: String) throws(CNIError) -> DeviceState? {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path(containerID, ifName)) } catch {
            if error.isNotFound { return nil }
            throw CNIError(.ioFailure, "host-device: cannot read the device's saved state", details: error.description)
        }
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw CNIError(.decodingFailure, "host-device: the saved state \(path(containerID, ifName)) is not JSON", details: "\(error)")
        }
        return try DeviceState(json: json)
    }

    public func remove(containerID: String, ifName: String) {
        try? FileSystem.remove(path(containerID, ifName))
        _ = rmdir(directory + "/" + containerID)   // only when empty
    }
}
