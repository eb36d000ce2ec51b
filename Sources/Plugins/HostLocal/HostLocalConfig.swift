import CNI
import IPAM
import IPAddressing

/// host-local's configuration (`ipam` keys of the reference, plugins §2.6):
/// `ranges` [[{subnet, rangeStart, rangeEnd, gateway}]], the legacy top-level
/// `subnet/rangeStart/rangeEnd/gateway` (prepended as its own range set), `routes`, `dataDir`,
/// `resolvConf`; requested IPs from CNI_ARGS `IP=`, `args.cni.ips` and `runtimeConfig.ips`
/// (accumulated in that order); `runtimeConfig.ipRanges` prepended to the range sets.
public struct HostLocalConfig: Sendable {
    public var name: String
    public var rangeSets: [RangeSet]
    public var routes: [CNIResult.Route]
    public var dataDir: String
    public var resolvConf: String?
    /// Requested addresses, in order, without repeats.
    public var requestedIPs: [IPAddress]

    /// The keys CNI_ARGS may carry for host-local.
    public static let argsKeys: [String] = ["IP"]

    /// Only what locating the store needs (DEL and GC work even when the ranges are broken).
    public static func storeLocation(_ conf: NetConf) throws(CNIError) -> (name: String, dataDir: String) {
        let ipam = try ipamReader(conf)
        let dir = try ipam.string("dataDir") ?? ""
        try Names.validateDataDirectory(dir, key: "ipam.dataDir")
        return (conf.name, dir.isEmpty ? DiskStore.defaultDataDir : dir)
    }

    static func ipamReader(_ conf: NetConf) throws(CNIError) -> JSONReader {
        guard let ipam = conf.ipam else { throw CNIError.invalidConfig("IPAM config missing 'ipam' key") }
        return JSONReader(.object(ipam), path: "ipam")
    }

    public init(_ conf: NetConf, args: CNIArgs, version: CNIVersion) throws(CNIError) {
        let ipam = try Self.ipamReader(conf)
        name = conf.name
        let location = try Self.storeLocation(conf)
        dataDir = location.dataDir
        resolvConf = try ipam.string("resolvConf").flatMap { $0.isEmpty ? nil : $0 }
        routes = []
        for (i, r) in (try ipam.array("routes") ?? []).enumerated() {
            routes.append(try CNIResult.Route(reader: ipam.child("routes[\(i)]", r)))
        }

        requestedIPs = try Self.requestedIPs(conf, args: args)
        let raw = try Self.rawRangeSets(ipam, runtimeConfig: JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig"))
        rangeSets = []
        for (i, r) in raw.enumerated() {
            do { rangeSets.append(try Self.rangeSet(r)) } catch let e as IPAMError {
                throw CNIError.invalidConfig("invalid range set \(i): \(e.description)")
            } catch let e as CNIError {
                throw e
            } catch {
                throw CNIError.invalidConfig("invalid range set \(i): \(error)")
            }
        }
        if !version.supportsMultipleIPs {
            let v4 = rangeSets.filter { $0.family == .v4 }.count
            if v4 > 1 || rangeSets.count - v4 > 1 {
                throw CNIError(.invalidNetworkConfig, "CNI version \(version.rawValue) does not support more than 1 address per family")
            }
        }
        for i in rangeSets.indices {
            for j in rangeSets.indices where j > i && rangeSets[i].overlaps(rangeSets[j]) {
                throw CNIError.invalidConfig("range set \(i) overlaps with \(j)")
            }
        }
        // A requested address must fall in a range set, one per set: check before touching the store.
        var claimed = Set<Int>()
        for ip in requestedIPs {
            guard let i = rangeSets.indices.first(where: { rangeSets[$0].contains(ip) && !claimed.contains($0) }) else {
                throw CNIError.invalidConfig("failed to allocate all requested IPs: \(ip)",
                                             details: "\(ip) is in no range set, or another requested address already uses its range set")
            }
            claimed.insert(i)
        }
    }

    /// Requested IPs: CNI_ARGS IP=, then args.cni.ips, then runtimeConfig.ips; in order, without repeats.
    static func requestedIPs(_ conf: NetConf, args: CNIArgs) throws(CNIError) -> [IPAddress] {
        var requested: [String] = []
        if let ip = args["IP"], !ip.isEmpty { requested.append(ip) }
        requested += try JSONReader(.object(conf.argsCNI ?? JSONObject()), path: "args.cni").stringArray("ips") ?? []
        requested += try JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig").stringArray("ips") ?? []
        var out: [IPAddress] = []
        for text in requested {
            guard let ip = IPAddress(text) ?? IPPrefix(text)?.address else {
                throw CNIError.invalidConfig("cannot understand ip: \(text)")
            }
            if !out.contains(ip) { out.append(ip) }
        }
        return out
    }

    /// The range sets' JSON in order: runtimeConfig.ipRanges, then the legacy single range, then `ranges`.
    static func rawRangeSets(_ ipam: JSONReader, runtimeConfig rc: JSONReader) throws(CNIError) -> [JSONReader] {
        var raw: [JSONReader] = []
        for (i, set) in (try rc.array("ipRanges") ?? []).enumerated() { raw.append(rc.child("ipRanges[\(i)]", set)) }
        if ipam.raw("subnet") != nil {
            var legacy = JSONObject()
            for k in ["subnet", "rangeStart", "rangeEnd", "gateway"] { legacy[k] = ipam.raw(k) }
            raw.append(ipam.child("subnet", .array([.object(legacy)])))
        }
        for (i, set) in (try ipam.array("ranges") ?? []).enumerated() { raw.append(ipam.child("ranges[\(i)]", set)) }
        if raw.isEmpty { throw CNIError.invalidConfig("no IP ranges specified") }
        return raw
    }

    static func rangeSet(_ r: JSONReader) throws -> RangeSet {
        guard let items = r.value.arrayValue else { throw r.fail("", "expected an array of ranges") }
        var ranges: [IPRange] = []
        for (i, item) in items.enumerated() {
            let ir = r.child("[\(i)]", item)
            try ir.requireObject()
            guard let subnet = try ir.prefix("subnet") else { throw CNIError.invalidConfig("missing \(ir.path).subnet") }
            ranges.append(try IPRange(subnet: subnet, rangeStart: try ir.address("rangeStart"),
                                      rangeEnd: try ir.address("rangeEnd"), gateway: try ir.address("gateway")))
        }
        return try RangeSet(ranges)
    }

    /// The requested address that belongs to range set `index`, if any.
    public func requested(for index: Int) -> IPAddress? {
        requestedIPs.first { ip in rangeSets[index].contains(ip) && rangeSets.firstIndex { $0.contains(ip) } == index }
    }
}
