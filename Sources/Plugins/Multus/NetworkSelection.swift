import Basics
import CNI
import IPAddressing

/// One network a pod asks for in `k8s.v1.cni.cncf.io/networks` (NPWG spec §4.1.2), in either
/// form: a comma list of `[namespace/]name[@ifname]`, or a JSON list of objects with `name`,
/// `namespace`, `interface`, `ips`, `mac`, `default-route`, `cni-args`, `portMappings`,
/// `bandwidth`, `deviceID`, `infiniband-guid`. Validated as upstream multus does.
public struct NetworkSelection: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var interface: String?
    public var ips: [String] = []
    public var mac: String?
    /// Gateways for which this network takes the pod's default route (one per family at most).
    public var defaultRoute: [IPAddress] = []
    public var cniArgs: JSONObject?
    public var portMappings: JSONValue?
    public var bandwidth: JSONValue?
    public var deviceID: String?
    public var infinibandGUID: String?

    public init(name: String, namespace: String, interface: String? = nil) {
        (self.name, self.namespace, self.interface) = (name, namespace, interface)
    }

    public static let annotation = "k8s.v1.cni.cncf.io/networks"
    public static let defaultNetworkAnnotation = "v1.multus-cni.io/default-network"

    /// The selections of an annotation; `podNamespace` for those that name none. Code 7 for a
    /// malformed one (the pod's ADD fails, as upstream).
    public static func parse(_ text: String, podNamespace: String) throws(CNIError) -> [NetworkSelection] {
        let t = text.trimmingWhitespace
        if t.isEmpty { return [] }
        if t.contains(where: { $0 == "[" || $0 == "{" || $0 == "\"" }) { return try parseJSON(t, podNamespace: podNamespace) }
        var out: [NetworkSelection] = []
        for item in t.split(separator: ",") {
            out.append(try parseItem(String(item).trimmingWhitespace, podNamespace: podNamespace))
        }
        return out
    }

    /// `[namespace/]name[@ifname]`.
    static func parseItem(_ item: String, podNamespace: String) throws(CNIError) -> NetworkSelection {
        let at = item.split(separator: "@", omittingEmptySubsequences: false)
        guard at.count <= 2 else { throw bad("at most one @ in \"\(item)\"") }
        let slash = at[0].split(separator: "/", omittingEmptySubsequences: false)
        guard slash.count <= 2 else { throw bad("at most one / in \"\(item)\"") }
        var sel = NetworkSelection(name: String(slash.last!), namespace: slash.count == 2 ? String(slash[0]) : podNamespace)
        if at.count == 2 { sel.interface = String(at[1]) }
        try sel.validate()
        return sel
    }

    static func parseJSON(_ text: String, podNamespace: String) throws(CNIError) -> [NetworkSelection] {
        let list: [JSONValue]
        do {
            guard let a = try JSONValue.parse(text).arrayValue else { throw bad("expected a JSON list of networks") }
            list = a
        } catch let e as CNIError {
            throw e
        } catch {
            throw bad("\(error)")
        }
        var out: [NetworkSelection] = []
        for (i, v) in list.enumerated() {
            let r = JSONReader(v, path: "\(annotation)[\(i)]")
            try r.requireObject()
            guard let name = try r.string("name"), !name.isEmpty else { throw bad("element \(i) has no name") }
            var sel = NetworkSelection(name: name, namespace: try r.string("namespace").flatMap { $0.isEmpty ? nil : $0 } ?? podNamespace,
                                       interface: try r.string("interface").flatMap { $0.isEmpty ? nil : $0 })
            sel.ips = try r.stringArray("ips") ?? []
            sel.mac = try r.string("mac").flatMap { $0.isEmpty ? nil : $0 }
            for (j, g) in (try r.stringArray("default-route") ?? []).enumerated() {
                guard let ip = IPAddress(g) else { throw r.fail("default-route[\(j)]", "invalid IP address \(g)") }
                sel.defaultRoute.append(ip)
            }
            sel.cniArgs = try r.object("cni-args")
            sel.portMappings = r.raw("portMappings")
            sel.bandwidth = r.raw("bandwidth")
            sel.deviceID = try r.string("deviceID").flatMap { $0.isEmpty ? nil : $0 }
            sel.infinibandGUID = try r.string("infiniband-guid").flatMap { $0.isEmpty ? nil : $0 }
            try sel.validate()
            out.append(sel)
        }
        return out
    }

    static func bad(_ what: String) -> CNIError {
        CNIError(.invalidNetworkConfig, "invalid \(annotation) annotation", details: what)
    }

    /// DNS-1123 labels for namespace and name (upstream's regex), a kernel-safe interface name,
    /// addresses and a MAC that parse.
    func validate() throws(CNIError) {
        for (what, v) in [("namespace", namespace), ("network name", name)] where !Self.isDNSLabel(v) {
            throw Self.bad("\(what) \"\(v)\" is not a DNS-1123 label")
        }
        if let interface { try Names.validateInterfaceName(interface, code: .invalidNetworkConfig, what: "interface \(interface)") }
        for ip in ips where IPAddress(ip) == nil && IPPrefix(ip) == nil { throw Self.bad("invalid IP address \"\(ip)\"") }
        if let mac, MACAddress(mac) == nil { throw Self.bad("invalid MAC address \"\(mac)\"") }
        let families = defaultRoute.map(\.family)
        if families.filter({ $0 == .v4 }).count > 1 || families.filter({ $0 == .v6 }).count > 1 {
            throw Self.bad("more than one default-route gateway per family for \(name)")
        }
    }

    /// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 bytes.
    static func isDNSLabel(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 63 else { return false }
        func ok(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        return ok(u.first!) && ok(u.last!) && u.allSatisfy { ok($0) || $0 == UInt8(ascii: "-") }
    }
}
