import CNI
import Bridge
import EgressRouter
import HostLocal
import Ipvlan
import Macvlan
import PluginKit
import RouteOverride
import Static
import Testing
import TestSupport

/// Every integer key of every plugin, fed values no kernel field holds: a coded error (7) naming
/// the key, never a trap (`"mtu": 4294967296` once killed the bridge with SIGILL and no output).
@Suite struct IntegerKeyTests {
    static let route = #""routes":[{"dst":"10.9.0.0/16","gw":"10.0.0.1","@KEY":@}]"#
    /// (plugin, key as the error names it, config with @ where the value goes)
    static let linkCases: [(String, String, String)] = [
        ("macvlan", "mtu", #""master":"eth0","mtu":@"#),
        ("macvlan", "bcqueuelen", #""master":"eth0","bcqueuelen":@"#),
        ("ipvlan", "mtu", #""master":"eth0","mtu":@"#),
        ("bridge", "mtu", #""mtu":@"#),
        ("bridge", "vlan", #""vlan":@"#),
        ("bridge", "id", #""vlanTrunk":[{"id":@}]"#),
        ("bridge", "minid", #""vlanTrunk":[{"minID":@,"maxID":5}]"#),
        ("bridge", "maxid", #""vlanTrunk":[{"minID":1,"maxID":@}]"#),
        ("route-override", "priority", #""addroutes":[{"dst":"10.9.0.0/16","priority":@}]"#),
        ("route-override", "table", #""addroutes":[{"dst":"10.9.0.0/16","table":@}]"#),
        ("egress-router", "mtu", #""interfaceArgs":{"mtu":@},"ip":{"addresses":["192.168.12.99/24"]}"#),
    ]

    /// The result-route keys of the IPAM plugins' `routes`.
    static var ipamCases: [(String, String, String)] {
        var out: [(String, String, String)] = []
        for key in ["mtu", "advmss", "priority", "table", "scope"] {
            let routes: String = route.replacingOccurrences(of: "@KEY", with: key)
            out.append(("host-local", key, #""ipam":{"type":"host-local","subnet":"10.0.0.0/24","# + routes + "}"))
            out.append(("static", key, #""ipam":{"type":"static","addresses":[{"address":"10.0.0.2/24"}],"# + routes + "}"))
        }
        return out
    }

    static var cases: [(String, String, String)] { linkCases + ipamCases }

    static func plugin(_ name: String) -> any Plugin {
        switch name {
        case "macvlan": return MacvlanPlugin()
        case "ipvlan": return IpvlanPlugin()
        case "bridge": return BridgePlugin()
        case "host-local": return HostLocalPlugin()
        case "static": return StaticPlugin()
        case "egress-router": return EgressRouterPlugin()
        default: return RouteOverridePlugin()
        }
    }

    @Test(arguments: ["4294967296", "-1", "1e309", "18446744073709551616", "2.5", #""1""#])
    func outOfRangeOrMistypedIsCodeSeven(value: String) {
        for (name, key, body) in Self.cases {
            let config = #"{"cniVersion":"1.0.0","name":"n","type":"\#(name)",\#(body.replacingOccurrences(of: "@", with: value))}"#
            let out = PluginCall("ADD", config: config, netns: "/nonexistent/netns").run(Self.plugin(name))
            #expect(out.errorCode == 7, "\(name) \(key)=\(value): \(out.text)")
            let said = (out.message + " " + (out.json?["details"]?.stringValue ?? "")).lowercased()
            #expect(said.contains(key), "\(name) \(key)=\(value): \(out.text)")
        }
    }
}
