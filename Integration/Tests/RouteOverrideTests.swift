import CNI
import Foundation
import Testing
import TestSupport

/// route-override chained after our macvlan and after Debian's Go bridge, driven by our cnitool;
/// every effect read back with `ip -j route` in the pod.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct RouteOverrideTests {
    let cnitool = BuildProducts.path("cnitool")
    var ourPath: [String: String] { ["CNI_PATH": BuildProducts.directory] }

    func chain(_ s: HostAndPod, override: String, version: String = "1.0.0", v6: Bool = false) -> String {
        let ranges = v6 ? #"[[{"subnet":"10.76.0.0/24"}],[{"subnet":"fd00:76::/64"}]]"# : #"[[{"subnet":"10.76.0.0/24"}]]"#
        let routes = #"[{"dst":"0.0.0.0/0"},{"dst":"192.168.50.0/24","gw":"10.76.0.254"},{"dst":"10.60.0.0/16","gw":"10.76.0.253"}"#
            + (v6 ? #",{"dst":"::/0"}]"# : "]")
        return #"""
        {"cniVersion":"\#(version)","name":"ro","plugins":[
          {"type":"macvlan","master":"\#(s.parent)","ipam":{"type":"host-local","ranges":\#(ranges),"routes":\#(routes),"dataDir":"\#(s.dataDir)"}},
          {"type":"route-override"\#(override)}]}
        """#
    }

    /// The pod's main-table routes as "dst via gw" strings ("dst dev" without a gateway).
    func kernelRoutes(_ ns: NetNS, v6: Bool = false) throws -> Set<String> {
        var out = Set<String>()
        for r in try ns.ipJSON(v6 ? "-6" : "-4", "route", "show").arrayValue ?? [] {
            let dst = r["dst"]?.stringValue ?? ""
            if dst.hasPrefix("fe80") { continue }
            if let hops = r["nexthops"]?.arrayValue {
                for h in hops { out.insert("\(dst) via \(h["gateway"]?.stringValue ?? "?")") }
            } else if let gw = r["gateway"]?.stringValue {
                out.insert("\(dst) via \(gw)")
            } else {
                out.insert("\(dst) dev")
            }
        }
        return out
    }

    func resultRoutes(_ json: JSONValue?) -> Set<String> {
        Set((json?["routes"]?.arrayValue ?? []).map { r in
            let dst = r["dst"]!.stringValue! == "0.0.0.0/0" ? "default" : (r["dst"]!.stringValue! == "::/0" ? "default6" : r["dst"]!.stringValue!)
            return r["gw"]?.stringValue.map { "\(dst) via \($0)" } ?? "\(dst) dev"
        })
    }

    @Test func delroutesAndAddroutesWithGatewayFallback() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","delroutes":[{"dst":"192.168.50.0/24"}],"addroutes":[{"dst":"172.20.0.0/16","gw":"10.76.0.250"},{"dst":"172.21.0.0/16"}]"#))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        let kernel = try kernelRoutes(s.pod)
        #expect(kernel == ["default via 10.76.0.1", "10.76.0.0/24 dev", "10.60.0.0/16 via 10.76.0.253",
                           "172.20.0.0/16 via 10.76.0.250", "172.21.0.0/16 via 10.76.0.1"])
        // The printed result says what the kernel holds (the default route's gateway is implicit).
        #expect(resultRoutes(add.json) == ["default dev", "10.60.0.0/16 via 10.76.0.253", "172.20.0.0/16 via 10.76.0.250",
                                           "172.21.0.0/16 via 10.76.0.1"])
        // CHECK passes although a default route covers the deleted 192.168.50.0/24.
        let check = try s.tool(cnitool, "check", "ro", s.pod.path, env: ourPath)
        #expect(check.status == 0, "\(check.stderr)")
        // Re-adding a deleted route or removing an added one fails CHECK.
        try s.pod.ip("route", "add", "192.168.50.0/24", "via", "10.76.0.254")
        #expect(try s.tool(cnitool, "check", "ro", s.pod.path, env: ourPath).stderr.contains("route is not removed: 192.168.50.0/24"))
        try s.pod.ip("route", "del", "192.168.50.0/24")
        try s.pod.ip("route", "del", "172.20.0.0/16")
        #expect(try s.tool(cnitool, "check", "ro", s.pod.path, env: ourPath).status == 1)
        #expect(try s.tool(cnitool, "del", "ro", s.pod.path, env: ourPath).status == 0)
        #expect(try s.pod.link("eth0") == nil)
    }

    @Test func flushroutesLeavesOnlyConnectedAndAdded() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","flushroutes":true,"addroutes":[{"dst":"172.20.0.0/16","gw":"10.76.0.250"}]"#, v6: true))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        #expect(try kernelRoutes(s.pod) == ["10.76.0.0/24 dev", "172.20.0.0/16 via 10.76.0.250"])
        #expect(try kernelRoutes(s.pod, v6: true) == ["fd00:76::/64 dev"])
        #expect(resultRoutes(add.json) == ["172.20.0.0/16 via 10.76.0.250"])
        #expect(try s.tool(cnitool, "check", "ro", s.pod.path, env: ourPath).status == 0)
    }

    @Test func flushgatewayRemovesDefaultRoutesAndGateways() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","flushgateway":true"#, v6: true))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        #expect(try kernelRoutes(s.pod) == ["10.76.0.0/24 dev", "192.168.50.0/24 via 10.76.0.254", "10.60.0.0/16 via 10.76.0.253"])
        #expect(try kernelRoutes(s.pod, v6: true) == ["fd00:76::/64 dev"])
        #expect(add.json?["ips"]?.arrayValue?.allSatisfy { $0["gateway"] == nil } == true)
        #expect(resultRoutes(add.json) == ["192.168.50.0/24 via 10.76.0.254", "10.60.0.0/16 via 10.76.0.253"])
        #expect(try s.tool(cnitool, "check", "ro", s.pod.path, env: ourPath).status == 0)
    }

    @Test func argsCniOverridesAndArgsWithoutCniWorks() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","delroutes":[{"dst":"192.168.50.0/24"}],"args":{"cni":{"delroutes":[{"dst":"10.60.0.0/16"}]}}"#))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        let kernel = try kernelRoutes(s.pod)
        #expect(kernel.contains("192.168.50.0/24 via 10.76.0.254") && !kernel.contains("10.60.0.0/16 via 10.76.0.253"))
        #expect(try s.tool(cnitool, "del", "ro", s.pod.path, env: ourPath).status == 0)

        try s.writeConflist("ro", chain(s, override: #","delroutes":[{"dst":"192.168.50.0/24"}],"args":{"other":1}"#))
        let plain = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!(try kernelRoutes(s.pod)).contains("192.168.50.0/24 via 10.76.0.254"))
    }

    @Test func ecmpRoutesAndSkipcheck() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","skipcheck":true,"addecmproutes":[{"dst":"172.22.0.0/16","gws":["10.76.0.250","10.76.0.251"]}],"delecmproutes":[{"dst":"10.60.0.0/16","gws":[]}]"#))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        let kernel = try kernelRoutes(s.pod)
        #expect(kernel.isSuperset(of: ["172.22.0.0/16 via 10.76.0.250", "172.22.0.0/16 via 10.76.0.251"]))
        #expect(!kernel.contains("10.60.0.0/16 via 10.76.0.253"))
        // skipcheck concerns route-override alone (macvlan's CHECK in the chain still runs), so
        // ask route-override directly, with the chain's result as prevResult.
        try s.pod.ip("route", "del", "172.22.0.0/16")
        func check(skip: Bool) throws -> Command {
            let c: JSONValue = ["cniVersion": "1.0.0", "name": "ro", "type": "route-override", "skipcheck": .bool(skip),
                                "prevResult": add.json!]
            return try s.plugin(BuildProducts.path("route-override"), "CHECK", c.serializedString())
        }
        #expect(try check(skip: true).status == 0)
        let strict = try check(skip: false)
        #expect(strict.status == 1)
        #expect(strict.json?["msg"]?.stringValue?.hasPrefix("route-override: failed to match route 172.22.0.0/16") == true)
    }

    @Test func aFailingChangeUndoesTheOthers() throws {
        let s = try HostAndPod()
        // The second added route's gateway is unreachable: the deletion before it is undone.
        try s.writeConflist("ro", chain(s, override: #","delroutes":[{"dst":"192.168.50.0/24"}],"addroutes":[{"dst":"172.20.0.0/16","gw":"10.76.0.250"},{"dst":"172.23.0.0/16","gw":"192.0.2.1"}]"#))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        #expect(add.status == 1)
        #expect(add.stderr.contains("failed to add route 172.23.0.0/16"))
        // cnitool's runtime does not DEL on a failed ADD; the pod holds what macvlan made, routes intact.
        let kernel = try kernelRoutes(s.pod)
        #expect(kernel.contains("192.168.50.0/24 via 10.76.0.254") && !kernel.contains("172.20.0.0/16 via 10.76.0.250"))
        #expect(try s.tool(cnitool, "del", "ro", s.pod.path, env: ourPath).status == 0)
    }

    @Test func noPrevResultIsACodeSevenError() throws {
        let s = try HostAndPod()
        let c = #"{"cniVersion":"1.0.0","name":"ro","type":"route-override","delroutes":[{"dst":"10.0.0.0/8"}]}"#
        let out = try s.plugin(BuildProducts.path("route-override"), "ADD", c)
        #expect(out.json?["code"] == 7)
        #expect(out.json?["msg"] == "route-override: no prevResult")
        #expect(try s.plugin(BuildProducts.path("route-override"), "DEL", c).status == 0)
    }

    @Test func afterTheGoBridge() throws {
        let s = try HostAndPod()
        let bridge = "robr\(uniqueSuffix().prefix(5))"
        try s.writeConflist("ro", #"""
            {"cniVersion":"1.0.0","name":"ro","plugins":[
              {"type":"bridge","bridge":"\#(bridge)","isGateway":true,
               "ipam":{"type":"host-local","subnet":"10.77.0.0/24","routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.51.0/24","gw":"10.77.0.254"}],"dataDir":"\#(s.dataDir)"}},
              {"type":"route-override","delroutes":[{"dst":"192.168.51.0/24"}],"addroutes":[{"dst":"172.24.0.0/16"}]}]}
            """#)
        // The Go bridge and host-local first in the path; route-override only exists in ours.
        let env = ["CNI_PATH": "/usr/lib/cni:" + BuildProducts.directory]
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: env)
        try #require(add.status == 0, "\(add.stderr)")
        #expect(try kernelRoutes(s.pod) == ["default via 10.77.0.1", "10.77.0.0/24 dev", "172.24.0.0/16 via 10.77.0.1"])
        #expect(resultRoutes(add.json) == ["default dev", "172.24.0.0/16 via 10.77.0.1"])
        #expect(add.json?["interfaces"]?.arrayValue?.count == 3)
        #expect(try s.tool(cnitool, "check", "ro", s.pod.path, env: env).status == 0)
        #expect(try s.tool(cnitool, "del", "ro", s.pod.path, env: env).status == 0)
    }

    /// delroutes only touch destinations the previous result has (as the reference): the kernel's
    /// connected route for the subnet stays.
    @Test func delroutesLeaveRoutesThePreviousResultDoesNotHave() throws {
        let s = try HostAndPod()
        try s.writeConflist("ro", chain(s, override: #","delroutes":[{"dst":"10.76.0.0/24"},{"dst":"10.60.0.0/16"}]"#))
        let add = try s.tool(cnitool, "add", "ro", s.pod.path, env: ourPath)
        try #require(add.status == 0, "\(add.stderr)")
        let kernel = try kernelRoutes(s.pod)
        #expect(kernel.contains("10.76.0.0/24 dev") && !kernel.contains("10.60.0.0/16 via 10.76.0.253"))
    }
}
