import CNI
import DHCP

/// dhcp's configuration (plugins §2.8): `ipam.daemonSocketPath`, `ipam.request`
/// [{option, skipDefault}], `ipam.provide` [{option, value | fromArg}], `ipam.priority`.
/// Options by the reference's names or by number. The parameter request list is routers and
/// subnet mask unless an entry says `skipDefault`, plus every requested option.
public struct DHCPConfig: Sendable {
    public static let defaultSocketPath = "/run/cni/dhcp.sock"

    public var socketPath: String
    public var parameterRequestList: [UInt8]
    public var provided: [(code: UInt8, value: [UInt8])]
    /// Every route's metric.
    public var priority: Int
    /// The pod's name (K8S_POD_NAME), sent as the host name.
    public var hostName: String?

    public init(_ conf: NetConf, args: CNIArgs) throws(CNIError) {
        guard let ipamObject = conf.ipam else { throw CNIError.invalidConfig("IPAM config missing 'ipam' key") }
        let ipam = JSONReader(.object(ipamObject), path: "ipam")
        socketPath = try ipam.string("daemonSocketPath") ?? Self.defaultSocketPath
        if socketPath.isEmpty { socketPath = Self.defaultSocketPath }
        priority = try ipam.int("priority", in: 0...Int(Int32.max)) ?? 0

        var skipDefault = false
        var requested: [UInt8] = []
        for (i, entry) in (try ipam.array("request") ?? []).enumerated() {
            let r = ipam.child("request[\(i)]", entry)
            try r.requireObject()
            if try r.bool("skipDefault") == true { skipDefault = true }
            if let name = try Self.optionText(r) {
                guard let code = DHCPOption.code(name) else { throw r.fail("option", "unknown DHCP option \"\(name)\"") }
                requested.append(code)
            }
        }
        var list: [UInt8] = skipDefault ? [] : [DHCPOption.router, DHCPOption.subnetMask]
        for c in requested where !list.contains(c) { list.append(c) }
        parameterRequestList = list

        provided = []
        for (i, entry) in (try ipam.array("provide") ?? []).enumerated() {
            let p = ipam.child("provide[\(i)]", entry)
            try p.requireObject()
            guard let name = try Self.optionText(p) else { throw p.fail("option", "is required") }
            guard let code = DHCPOption.code(name) else { throw p.fail("option", "unknown DHCP option \"\(name)\"") }
            var value = try p.string("value") ?? ""
            // fromArg: the value of a CNI_ARGS key, else of the same key in `args.cni`.
            if let key = try p.string("fromArg"), !key.isEmpty {
                value = args[key] ?? conf.argsCNI?[key]?.stringValue ?? ""
            }
            guard value.utf8.count <= 255 else { throw p.fail("value", "is longer than 255 bytes") }
            if !value.isEmpty { provided.append((code, Array(value.utf8))) }
        }
        hostName = args["K8S_POD_NAME"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `option` as text: a name, or a number written as a string or a JSON number.
    static func optionText(_ r: JSONReader) throws(CNIError) -> String? {
        switch r.raw("option") {
        case nil, .null?: return nil
        case .number(let n)?: return n
        case .string(let s)?: return s.isEmpty ? nil : s
        default: throw r.fail("option", "must be an option name or number")
        }
    }
}
