import CNI
import Foundation
import Testing
import TestSupport

/// Our macvlan + host-local and Debian's Go ones on identical configs, each in its own pod
/// namespace on the same host: the same result JSON (but for the MAC and the sandbox path) and
/// the same kernel state.
@Suite(.enabled(if: Root.required, "needs root (network namespaces)"))
struct MacvlanVersusGoTests {
    /// What must match between the two pods: link, addresses and routes as `ip -j` reports them,
    /// less what differs by nature (MAC, index, link-local address, timers).
    func kernelState(_ ns: NetNS) throws -> JSONValue {
        let link = try #require(try ns.link("eth0"))
        let info = link["linkinfo"]?["info_data"]
        let linkState: JSONValue = ["mtu": link["mtu"] ?? .null, "flags": link["flags"] ?? .null,
                                    "operstate": link["operstate"] ?? .null, "kind": link["linkinfo"]?["info_kind"] ?? .null,
                                    "mode": info?["mode"] ?? .null]
        let addrs = (try ns.ipJSON("addr", "show", "dev", "eth0").arrayValue?.first?["addr_info"]?.arrayValue ?? [])
            .filter { $0["scope"] != "link" }
            .map { a -> JSONValue in ["family": a["family"] ?? .null, "local": a["local"] ?? .null, "prefixlen": a["prefixlen"] ?? .null,
                                      "broadcast": a["broadcast"] ?? .null, "scope": a["scope"] ?? .null, "noprefixroute": a["noprefixroute"] ?? .null] }
        var routes: [JSONValue] = []
        for family in ["-4", "-6"] {
            for r in try ns.ipJSON(family, "route", "show", "table", "all").arrayValue ?? [] {
                if r["dst"]?.stringValue?.hasPrefix("fe80") == true || r["table"] == "local" || r["dst"]?.stringValue?.hasPrefix("ff00") == true { continue }
                routes.append(["dst": r["dst"] ?? .null, "gateway": r["gateway"] ?? .null, "dev": r["dev"] ?? .null,
                               "protocol": r["protocol"] ?? .null, "scope": r["scope"] ?? .null, "metric": r["metric"] ?? .null,
                               "table": r["table"] ?? .null])
            }
        }
        // arp_notify only: current upstream (and we) also set ipv6 ndisc_notify, which Debian's
        // 1.1.1 predates; ours is checked in MacvlanTests.
        let sysctl = try ns.run(["cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"], env: [:]).stdout
        return ["link": linkState, "addresses": .array(addrs), "routes": .array(routes), "sysctl": .string(sysctl)]
    }

    /// The result with what legitimately differs taken out.
    func normalized(_ result: JSONValue, sandbox: String) -> JSONValue {
        var o = result.objectValue!
        if let ifs = o["interfaces"]?.arrayValue {
            o["interfaces"] = .array(ifs.map { i in
                var x = i.objectValue!
                x["mac"] = x["mac"] != nil ? "<mac>" : nil
                if x["sandbox"] == .string(sandbox) { x["sandbox"] = "<sandbox>" }
                return .object(x)
            })
        }
        // Debian's 1.1.1 library prints an empty "dns": {}; current upstream (and we) leave it out.
        if o["dns"] == .object(JSONObject()) { o["dns"] = nil }
        return .object(o)
    }

    @Test(arguments: ["0.3.1", "0.4.0", "1.0.0"], ["bridge", "private"])
    func sameResultAndKernelState(version: String, mode: String) throws {
        let s = try HostAndPod()
        let goPod = try NetNS("gopod")
        let conf = { (dataDir: String) in
            #"""
            {"cniVersion":"\#(version)","name":"mv","type":"macvlan","master":"\#(s.parent)","mode":"\#(mode)","mtu":1450,
             "ipam":{"type":"host-local","ranges":[[{"subnet":"10.80.0.0/24"}],[{"subnet":"fd00:80::/64"}]],
                     "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"},{"dst":"192.168.80.0/24","gw":"10.80.0.254"}],
                     "dataDir":"\#(dataDir)"}}
            """#
        }
        // One after the other in the same pod: side by side on one segment, the two would
        // hold the same IPv6 address and one would fail duplicate address detection.
        let ours = try s.plugin(BuildProducts.path("macvlan"), "ADD", conf(s.dir.file("ours")))
        try #require(ours.status == 0, "ours: \(ours.stdout)")
        let ourState = try kernelState(s.pod)
        #expect(try s.plugin(BuildProducts.path("macvlan"), "DEL", conf(s.dir.file("ours"))).status == 0)
        #expect(try s.pod.link("eth0") == nil)

        let go = try s.plugin("/usr/lib/cni/macvlan", "ADD", conf(s.dir.file("go")), cniPath: "/usr/lib/cni")
        try #require(go.status == 0, "go: \(go.stdout)")
        let goState = try kernelState(s.pod)
        #expect(try s.plugin("/usr/lib/cni/macvlan", "DEL", conf(s.dir.file("go")), cniPath: "/usr/lib/cni").status == 0)

        #expect(normalized(try #require(ours.json), sandbox: s.pod.path) == normalized(try #require(go.json), sandbox: s.pod.path))
        #expect(ourState == goState, "ours: \(ourState.serializedString())\ngo:   \(goState.serializedString())")
        _ = goPod
    }

    @Test func layerTwoOnlySideBySide() throws {
        let s = try HostAndPod()
        let goPod = try NetNS("gopod")
        let conf = #"{"cniVersion":"1.0.0","name":"mv","type":"macvlan","master":"\#(s.parent)","mode":"vepa"}"#
        let ours = try s.plugin(BuildProducts.path("macvlan"), "ADD", conf)
        let go = try s.plugin("/usr/lib/cni/macvlan", "ADD", conf, netns: goPod.path, cniPath: "/usr/lib/cni")
        try #require(ours.status == 0 && go.status == 0, "\(ours.stdout) \(go.stdout)")
        #expect(normalized(ours.json!, sandbox: s.pod.path) == normalized(go.json!, sandbox: goPod.path))
        let ourLink = try #require(try s.pod.link("eth0")), goLink = try #require(try goPod.link("eth0"))
        #expect(ourLink["flags"] == goLink["flags"] && ourLink["mtu"] == goLink["mtu"])
        #expect(ourLink["linkinfo"]?["info_data"]?["mode"] == goLink["linkinfo"]?["info_data"]?["mode"])
    }
}
