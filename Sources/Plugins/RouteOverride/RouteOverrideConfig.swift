import CNI
import IPAddressing

/// route-override's configuration (meta-and-openshift-plugins §4): `flushroutes`,
/// `flushgateway`, `delroutes`, `addroutes`, `delecmproutes`, `addecmproutes`, `skipcheck`; the
/// same keys under `args.cni` override them (Multus puts a pod's `cni-args` there).
public struct RouteOverrideConfig: Sendable {
    public struct ECMPRoute: Sendable, Equatable {
        public var dst: IPPrefix
        public var gateways: [IPAddress]
    }

    public var flushRoutes = false
    public var flushGateway = false
    public var delRoutes: [CNIResult.Route] = []
    public var addRoutes: [CNIResult.Route] = []
    public var delECMPRoutes: [ECMPRoute] = []
    public var addECMPRoutes: [ECMPRoute] = []
    public var skipCheck = false

    public init(_ conf: NetConf) throws(CNIError) {
        try apply(JSONReader(.object(conf.raw), path: ""))
        if let args = conf.argsCNI { try apply(JSONReader(.object(args), path: "args.cni")) }
    }

    /// Sets every key the reader has (absent keys leave the current value).
    mutating func apply(_ r: JSONReader) throws(CNIError) {
        if let v = try r.bool("flushroutes") { flushRoutes = v }
        if let v = try r.bool("flushgateway") { flushGateway = v }
        if let v = try r.bool("skipcheck") { skipCheck = v }
        if let v = try routes(r, "delroutes") { delRoutes = v }
        if let v = try routes(r, "addroutes") { addRoutes = v }
        if let v = try ecmpRoutes(r, "delecmproutes") { delECMPRoutes = v }
        if let v = try ecmpRoutes(r, "addecmproutes") { addECMPRoutes = v }
    }

    func routes(_ r: JSONReader, _ key: String) throws(CNIError) -> [CNIResult.Route]? {
        guard let list = try r.array(key) else { return nil }
        var out: [CNIResult.Route] = []
        for (i, v) in list.enumerated() { out.append(try CNIResult.Route(reader: r.child("\(key)[\(i)]", v))) }
        return out
    }

    func ecmpRoutes(_ r: JSONReader, _ key: String) throws(CNIError) -> [ECMPRoute]? {
        guard let list = try r.array(key) else { return nil }
        var out: [ECMPRoute] = []
        for (i, v) in list.enumerated() {
            let er = r.child("\(key)[\(i)]", v)
            try er.requireObject()
            var gws: [IPAddress] = []
            for (j, g) in (try er.array("gws") ?? []).enumerated() {
                guard let text = g.stringValue, let ip = IPAddress(text) else { throw er.fail("gws[\(j)]", "invalid IP address") }
                gws.append(ip)
            }
            out.append(ECMPRoute(dst: try er.requiredPrefix("dst").masked, gateways: gws))
        }
        return out
    }
}
