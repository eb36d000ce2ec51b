import Basics
import CNI
import IPAM
import IPAddressing
import LinuxSystem

/// whereabouts' configuration (`ipam` keys of upstream, reference §2), merged with the flat file
/// `whereabouts.d/whereabouts.conf` as upstream does (the flat file fills only keys the network
/// config does not set) — but the flat file is optional here.
public struct WhereaboutsConfig: Sendable {
    public enum Datastore: Sendable, Equatable {
        /// The embedded store on this node (ours): `<dataDir>`.
        case file
        /// IPPool / OverlappingRangeIPReservation objects through the Kubernetes API.
        case kubernetes(kubeconfig: String)
        /// etcd's v3 API (upstream v0.5's `etcd_*` keys).
        case etcd(EtcdSettings)

        /// As the `datastore` key spells it.
        public var name: String {
            switch self {
            case .file: return "file"
            case .kubernetes: return "kubernetes"
            case .etcd: return "etcd"
            }
        }
    }

    public struct EtcdSettings: Sendable, Equatable {
        public var endpoints: [String]
        public var username: String?
        public var password: String?
        public var keyFile: String?
        public var certFile: String?
        public var caCertFile: String?
    }

    public struct StaticAddress: Sendable, Equatable {
        public var address: IPPrefix
        public var gateway: IPAddress?
    }

    /// The network config's `name`.
    public var name: String
    /// One address is handed out from each.
    public var ranges: [PoolRange]
    public var gateway: IPAddress?
    public var routes: [CNIResult.Route]
    public var dns: DNS
    /// `addresses` and CNI_ARGS `IP=` (with `GATEWAY=`): returned as they are, nothing stored.
    public var addresses: [StaticAddress]
    /// Prefixes pool and reservation names: independent pools for the same CIDR.
    public var networkName: String
    public var overlappingRanges: Bool
    public var datastore: Datastore
    /// The embedded store's directory, and where this node remembers its attachments.
    public var dataDir: String
    /// `<namespace>/<name>` of the pod (CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME); "" outside Kubernetes.
    public var podRef: String
    public var logFile: String?
    public var logLevel: String?
    /// The flat file that was merged, if any.
    public var flatFile: String?

    public static let defaultDataDir = "/var/lib/cni/whereabouts"
    public static let flatFilePaths = ["/etc/kubernetes/cni/net.d/whereabouts.d/whereabouts.conf",
                                       "/etc/cni/net.d/whereabouts.d/whereabouts.conf",
                                       "/host/etc/cni/net.d/whereabouts.d/whereabouts.conf"]
    public static let argsKeys = ["IP", "GATEWAY", "K8S_POD_NAMESPACE", "K8S_POD_NAME",
                                  "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]

    /// - Parameter flatFiles: where to look for the flat file after `configuration_path`
    ///   (tests pass their own).
    public init(_ conf: NetConf, args: CNIArgs, version: CNIVersion,
                flatFiles: [String] = WhereaboutsConfig.flatFilePaths) throws(CNIError) {
        guard var ipam = conf.ipam else { throw CNIError.invalidConfig("IPAM config missing 'ipam' key") }
        name = conf.name
        let explicit = JSONReader(.object(ipam), path: "ipam")
        var candidates = flatFiles
        if let path = try explicit.string("configuration_path"), !path.isEmpty { candidates.insert(path, at: 0) }
        flatFile = nil
        for path in candidates where FileSystem.exists(path) {
            let flat: JSONValue
            do { flat = try JSONValue.parse(try FileSystem.read(path, atMost: 1 << 20)) } catch {
                throw CNIError.invalidConfig("whereabouts flat file \(path) cannot be read", details: "\(error)")
            }
            guard let object = flat.objectValue else { throw CNIError.invalidConfig("whereabouts flat file \(path) is not a JSON object") }
            for e in object.entries where ipam[e.key] == nil || ipam[e.key] == .null || ipam[e.key] == .string("") { ipam[e.key] = e.value }
            flatFile = path
            break
        }
        let r = JSONReader(.object(ipam), path: "ipam")

        ranges = try Self.ranges(r)
        gateway = try r.address("gateway")
        routes = []
        for (i, route) in (try r.array("routes") ?? []).enumerated() {
            routes.append(try CNIResult.Route(reader: r.child("routes[\(i)]", route)))
        }
        dns = try DNS(reader: r.child("dns", r.raw("dns") ?? .null))
        addresses = try Self.staticAddresses(r, args: args)
        networkName = try r.string("network_name") ?? ""
        if !networkName.isEmpty && !Names.isValidName(networkName) {
            throw CNIError.invalidConfig("invalid network_name \"\(networkName)\"",
                                         details: "network_name prefixes object and file names: letters, digits, '_', '.', '-'")
        }
        overlappingRanges = try explicit.bool("enable_overlapping_ranges") ?? true
        let camelDir = try r.string("dataDir"), snakeDir = try r.string("data_dir")
        let dir = camelDir ?? snakeDir ?? ""
        try Names.validateDataDirectory(dir, key: "ipam.dataDir")
        dataDir = dir.isEmpty ? Self.defaultDataDir : dir
        datastore = try Self.datastore(r)
        podRef = try Self.podRef(args)
        logFile = try r.string("log_file").flatMap { $0.isEmpty ? nil : $0 }
        logLevel = try r.string("log_level").flatMap { $0.isEmpty ? nil : $0 }

        let v4 = addresses.filter { $0.address.family == .v4 }.count + ranges.filter { $0.family == .v4 }.count
        if !version.supportsMultipleIPs && (v4 > 1 || addresses.count + ranges.count - v4 > 1) {
            throw CNIError(.invalidNetworkConfig, "CNI version \(version.rawValue) does not support more than 1 address per family")
        }
    }

    /// `range` (+ `range_start`/`range_end`/`exclude`) first, then every `ipRanges` entry; a
    /// range may be `start-end/prefix`. camelCase `rangeStart`/`rangeEnd` are read too (upstream
    /// silently ignores them, so a config that uses them gets what its author meant).
    static func ranges(_ r: JSONReader) throws(CNIError) -> [PoolRange] {
        var raw: [JSONReader] = []
        if let top = try r.string("range"), !top.isEmpty { raw.append(r) }
        for (i, item) in (try r.array("ipRanges") ?? []).enumerated() {
            let ir = r.child("ipRanges[\(i)]", item)
            try ir.requireObject()
            raw.append(ir)
        }
        if raw.isEmpty { throw CNIError.invalidConfig("no IP ranges specified", details: "set ipam.range or ipam.ipRanges") }
        var out: [PoolRange] = []
        for rr in raw {
            let text = try rr.requiredString("range")
            let snakeStart = try rr.address("range_start"), camelStart = try rr.address("rangeStart")
            let snakeEnd = try rr.address("range_end"), camelEnd = try rr.address("rangeEnd")
            var (start, end) = (snakeStart ?? camelStart, snakeEnd ?? camelEnd)
            let subnet: IPPrefix
            if let dash = text.firstIndex(of: "-") {
                guard let lo = IPAddress(text[..<dash]), let cidr = IPPrefix(text[text.index(after: dash)...]) else {
                    throw CNIError.invalidConfig("invalid range \(text)", details: "expected a CIDR or start-end/prefix")
                }
                guard cidr.masked.contains(lo) else { throw CNIError.invalidConfig("invalid range start for CIDR \(cidr.masked): \(lo)") }
                subnet = cidr
                (start, end) = (lo, cidr.address)
            } else {
                guard let cidr = IPPrefix(text) else {
                    throw CNIError.invalidConfig("invalid CIDR \(text)", details: "in \(rr.path).range")
                }
                subnet = cidr
            }
            var excluded: [IPPrefix] = []
            for e in try rr.stringArray("exclude") ?? [] {
                guard let p = IPPrefix(e) ?? IPAddress(e).flatMap({ IPPrefix(address: $0, length: $0.family.bitWidth) }) else {
                    throw CNIError.invalidConfig("invalid CIDR in exclude list \(e)")
                }
                excluded.append(p)
            }
            do {
                out.append(try PoolRange(subnet: subnet, rangeStart: start, rangeEnd: end, excluded: excluded,
                                         gateway: try r.address("gateway")))
            } catch let e as IPAMError {
                throw CNIError.invalidConfig("invalid range \(text)", details: e.description)
            } catch let e as CNIError {
                throw e
            } catch {
                throw CNIError.invalidConfig("invalid range \(text)", details: "\(error)")
            }
        }
        for i in out.indices {
            for j in out.indices where j > i && out[i].subnet.overlaps(out[j].subnet) && out[i].cidr == out[j].cidr {
                throw CNIError.invalidConfig("range \(out[i].cidr) is given twice", details: "one address per range: use range_start/range_end for parts of one CIDR")
            }
        }
        return out
    }

    /// `addresses` [{address, gateway}] then CNI_ARGS `IP=` (comma-separated CIDRs); `GATEWAY=`
    /// is the gateway of the addresses that contain it (upstream's handleEnvArgs).
    static func staticAddresses(_ r: JSONReader, args: CNIArgs) throws(CNIError) -> [StaticAddress] {
        var out: [StaticAddress] = []
        for (i, a) in (try r.array("addresses") ?? []).enumerated() {
            let ar = r.child("addresses[\(i)]", a)
            let text = try ar.requiredString("address")
            guard let p = IPPrefix(text) else { throw CNIError.invalidConfig("invalid CIDR in addresses \(text)") }
            out.append(StaticAddress(address: p, gateway: try ar.address("gateway")))
        }
        if let ips = args["IP"], !ips.isEmpty {
            for item in ips.split(separator: ",") {
                let t = String(item).trimmingWhitespace
                guard let p = IPPrefix(t) else { throw CNIError(.invalidEnvironment, "invalid CIDR \(t)", details: "in CNI_ARGS IP") }
                out.append(StaticAddress(address: p, gateway: nil))
            }
        }
        if let gws = args["GATEWAY"], !gws.isEmpty {
            for item in gws.split(separator: ",") {
                let t = String(item).trimmingWhitespace
                guard let gw = IPAddress(t) else { throw CNIError(.invalidEnvironment, "invalid gateway address: \(t)") }
                for i in out.indices where out[i].address.masked.contains(gw) { out[i].gateway = gw }
            }
        }
        return out
    }

    /// `datastore` as upstream v0.5 names it; without it, `kubernetes.kubeconfig` means the
    /// Kubernetes datastore (what an upstream v0.6 config means), else the embedded store.
    static func datastore(_ r: JSONReader) throws(CNIError) -> Datastore {
        var kubeconfig = ""
        if let k = try r.object("kubernetes") { kubeconfig = try JSONReader(.object(k), path: "ipam.kubernetes").string("kubeconfig") ?? "" }
        switch try r.string("datastore") ?? "" {
        case "":
            return kubeconfig.isEmpty ? .file : .kubernetes(kubeconfig: kubeconfig)
        case "file":
            return .file
        case "kubernetes":
            if kubeconfig.isEmpty { throw CNIError.invalidConfig("datastore kubernetes needs ipam.kubernetes.kubeconfig") }
            return .kubernetes(kubeconfig: kubeconfig)
        case "etcd":
            let hosts = (try r.string("etcd_host") ?? "").split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
            if hosts.isEmpty { throw CNIError.invalidConfig("datastore etcd needs ipam.etcd_host") }
            func opt(_ k: String) throws(CNIError) -> String? { try r.string(k).flatMap { $0.isEmpty ? nil : $0 } }
            return .etcd(EtcdSettings(endpoints: hosts, username: try opt("etcd_username"), password: try opt("etcd_password"),
                                      keyFile: try opt("etcd_key_file"), certFile: try opt("etcd_cert_file"),
                                      caCertFile: try opt("etcd_ca_cert_file")))
        case let other:
            throw CNIError.invalidConfig("unknown datastore \"\(other)\"", details: "expected file, kubernetes or etcd")
        }
    }

    /// `<K8S_POD_NAMESPACE>/<K8S_POD_NAME>`: the owner of the addresses. Characters that could
    /// break a record (white space, control characters) are refused.
    static func podRef(_ args: CNIArgs) throws(CNIError) -> String {
        let ns = args["K8S_POD_NAMESPACE"] ?? "", pod = args["K8S_POD_NAME"] ?? ""
        if pod.isEmpty { return "" }
        let ref = ns + "/" + pod
        if ref.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) || ref.utf8.count > 512 {
            throw CNIError(.invalidEnvironment, "invalid K8S_POD_NAMESPACE/K8S_POD_NAME", details: ref)
        }
        return ref
    }
}
