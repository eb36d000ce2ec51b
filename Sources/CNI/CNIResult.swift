import IPAddressing

/// A plugin's result in the newest shape (1.1.0); `json(version:)` renders any spec version and
/// `init(json:version:)` reads any, with the conversions of the reference's `pkg/types`.
public struct CNIResult: Sendable, Equatable {
    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public init(interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()) {
        (self.interfaces, self.ips, self.routes, self.dns) = (interfaces, ips, routes, dns)
    }

    public struct Interface: Sendable, Equatable {
        public var name: String
        public var mac: String
        public var mtu: Int
        public var sandbox: String
        public var socketPath: String
        public var pciID: String

        public init(name: String, mac: String = "", mtu: Int = 0, sandbox: String = "",
                    socketPath: String = "", pciID: String = "") {
            (self.name, self.mac, self.mtu, self.sandbox) = (name, mac, mtu, sandbox)
            (self.socketPath, self.pciID) = (socketPath, pciID)
        }
    }

    public struct IPConfig: Sendable, Equatable {
        /// The address with its prefix length; host bits kept ("10.1.0.5/16").
        public var address: IPPrefix
        public var gateway: IPAddress?
        /// Index into `interfaces`; nil in delegated IPAM results.
        public var interface: Int?

        public init(address: IPPrefix, gateway: IPAddress? = nil, interface: Int? = nil) {
            (self.address, self.gateway, self.interface) = (address, gateway, interface)
        }
    }

    public struct Route: Sendable, Equatable {
        public var dst: IPPrefix
        public var gw: IPAddress?
        public var mtu: Int
        public var advmss: Int
        public var priority: Int
        public var table: Int?
        public var scope: Int?

        public init(dst: IPPrefix, gw: IPAddress? = nil, mtu: Int = 0, advmss: Int = 0, priority: Int = 0,
                    table: Int? = nil, scope: Int? = nil) {
            (self.dst, self.gw, self.mtu, self.advmss, self.priority) = (dst, gw, mtu, advmss, priority)
            (self.table, self.scope) = (table, scope)
        }
    }
}

/// DNS settings, as in configs and results.
public struct DNS: Sendable, Equatable {
    public var nameservers: [String]
    public var domain: String
    public var search: [String]
    public var options: [String]

    public init(nameservers: [String] = [], domain: String = "", search: [String] = [], options: [String] = []) {
        (self.nameservers, self.domain, self.search, self.options) = (nameservers, domain, search, options)
    }

    public var isEmpty: Bool { nameservers.isEmpty && domain.isEmpty && search.isEmpty && options.isEmpty }

    public var json: JSONValue {
        var o = JSONObject()
        if !nameservers.isEmpty { o["nameservers"] = .array(nameservers.map { .string($0) }) }
        if !domain.isEmpty { o["domain"] = .string(domain) }
        if !search.isEmpty { o["search"] = .array(search.map { .string($0) }) }
        if !options.isEmpty { o["options"] = .array(options.map { .string($0) }) }
        return .object(o)
    }

    /// Reads a `dns` object; null or absent means empty.
    public init(reader r: JSONReader) throws(CNIError) {
        self.init()
        guard !r.value.isNull else { return }
        try r.requireObject()
        nameservers = try r.stringArray("nameservers") ?? []
        domain = try r.string("domain") ?? ""
        search = try r.stringArray("search") ?? []
        options = try r.stringArray("options") ?? []
    }
}
