import IPAddressing

extension CNIResult {
    /// The result as the given spec version prints it. Fails for ≤ 0.2.0 when there is no IP
    /// address to put in `ip4`/`ip6` ("cannot convert: no valid IP addresses").
    public func json(version: CNIVersion) throws(CNIError) -> JSONValue {
        var o = JSONObject()
        o["cniVersion"] = .string(version.rawValue)
        switch version.resultShape {
        case .legacy:
            let v4 = ips.first { $0.address.family == .v4 }
            let v6 = ips.first { $0.address.family == .v6 }
            guard v4 != nil || v6 != nil else {
                throw CNIError(.incompatibleVersion, "cannot convert: no valid IP addresses",
                               details: "a result without IP addresses cannot be expressed in version \(version.rawValue)")
            }
            func legacy(_ ip: IPConfig, _ family: IPAddress.Family) -> JSONValue {
                var c = JSONObject()
                c["ip"] = .string(ip.address.description)
                if let gw = ip.gateway { c["gateway"] = .string(gw.description) }
                let rs = routes.filter { $0.dst.family == family }
                if !rs.isEmpty { c["routes"] = .array(rs.map { $0.json(full: false) }) }
                return .object(c)
            }
            if let v4 { o["ip4"] = legacy(v4, .v4) }
            if let v6 { o["ip6"] = legacy(v6, .v6) }
        case .v04, .v1:
            let full = version.resultShape == .v1
            if !interfaces.isEmpty { o["interfaces"] = .array(interfaces.map { $0.json(full: full) }) }
            if !ips.isEmpty { o["ips"] = .array(ips.map { $0.json(withVersion: !full) }) }
            if !routes.isEmpty { o["routes"] = .array(routes.map { $0.json(full: full) }) }
        }
        if !dns.isEmpty { o["dns"] = dns.json }
        return .object(o)
    }

    /// Reads a result printed in `version`'s shape (its own "cniVersion" is not consulted: the
    /// caller decides, as `version.ParsePrevResult` does with the config's version).
    public init(json: JSONValue, version: CNIVersion) throws(CNIError) {
        let r = JSONReader(json, path: "result", code: .decodingFailure)
        try r.requireObject()
        self.init()
        dns = try DNS(reader: r.child("dns", json["dns"] ?? .null))
        switch version.resultShape {
        case .legacy:
            for key in ["ip4", "ip6"] {
                guard let c = json[key], !c.isNull else { continue }
                let cr = r.child(key, c)
                try cr.requireObject()
                ips.append(IPConfig(address: try cr.requiredPrefix("ip"), gateway: try cr.address("gateway")))
                for (i, route) in (try cr.array("routes") ?? []).enumerated() {
                    routes.append(try Route(reader: cr.child("routes[\(i)]", route)))
                }
            }
        case .v04, .v1:
            for (i, v) in (try r.array("interfaces") ?? []).enumerated() {
                let ir = r.child("interfaces[\(i)]", v)
                try ir.requireObject()
                interfaces.append(Interface(
                    name: try ir.string("name") ?? "", mac: try ir.string("mac") ?? "",
                    mtu: try ir.int("mtu") ?? 0, sandbox: try ir.string("sandbox") ?? "",
                    socketPath: try ir.string("socketPath") ?? "", pciID: try ir.string("pciID") ?? ""))
            }
            for (i, v) in (try r.array("ips") ?? []).enumerated() {
                let ir = r.child("ips[\(i)]", v)
                try ir.requireObject()
                let ip = IPConfig(address: try ir.requiredPrefix("address"), gateway: try ir.address("gateway"),
                                  interface: try ir.int("interface"))
                ips.append(ip)
            }
            for (i, v) in (try r.array("routes") ?? []).enumerated() {
                routes.append(try Route(reader: r.child("routes[\(i)]", v)))
            }
        }
    }

    /// Reads a result that names its own version (a plugin's stdout); a missing "cniVersion"
    /// means `fallback` (libcni treats such a result as the config's version).
    public init(json: JSONValue, fallback: CNIVersion) throws(CNIError) {
        try self.init(json: json, version: Self.version(of: json, fallback: fallback))
    }

    /// The version a result names ("cniVersion"), `fallback` when it names none; code 1 for one
    /// this suite does not know.
    public static func version(of json: JSONValue, fallback: CNIVersion) throws(CNIError) -> CNIVersion {
        guard let v = json["cniVersion"]?.stringValue, !v.isEmpty else { return fallback }
        guard let known = CNIVersion(rawValue: v) else {
            throw CNIError(.incompatibleVersion, "unsupported CNI result version \"\(v)\"")
        }
        return known
    }
}

extension CNIResult.Interface {
    func json(full: Bool) -> JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        if !mac.isEmpty { o["mac"] = .string(mac) }
        if full && mtu != 0 { o["mtu"] = .int(mtu) }
        if !sandbox.isEmpty { o["sandbox"] = .string(sandbox) }
        if full && !socketPath.isEmpty { o["socketPath"] = .string(socketPath) }
        if full && !pciID.isEmpty { o["pciID"] = .string(pciID) }
        return .object(o)
    }
}

extension CNIResult.IPConfig {
    func json(withVersion: Bool) -> JSONValue {
        var o = JSONObject()
        if withVersion { o["version"] = .string(address.family.versionString) }
        if let interface { o["interface"] = .int(interface) }
        o["address"] = .string(address.description)
        if let gateway { o["gateway"] = .string(gateway.description) }
        return .object(o)
    }
}

extension CNIResult.Route {
    func json(full: Bool) -> JSONValue {
        var o = JSONObject()
        o["dst"] = .string(dst.description)
        if let gw { o["gw"] = .string(gw.description) }
        if full {
            if mtu != 0 { o["mtu"] = .int(mtu) }
            if advmss != 0 { o["advmss"] = .int(advmss) }
            if priority != 0 { o["priority"] = .int(priority) }
            if let table { o["table"] = .int(table) }
            if let scope { o["scope"] = .int(scope) }
        }
        return .object(o)
    }

    public init(reader r: JSONReader) throws(CNIError) {
        try r.requireObject()
        let u32 = 0...Int(UInt32.max)
        self.init(dst: try r.requiredPrefix("dst"), gw: try r.address("gw"), mtu: try r.int("mtu", in: u32) ?? 0,
                  advmss: try r.int("advmss", in: u32) ?? 0, priority: try r.int("priority", in: u32) ?? 0,
                  table: try r.int("table", in: u32), scope: try r.int("scope", in: 0...255))
    }
}
