import CNI
import RouteOverride
import Testing

@Suite struct RouteOverrideConfigTests {
    func config(_ extra: String) throws -> RouteOverrideConfig {
        try RouteOverrideConfig(NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"route-override"\#(extra)}"#.utf8)))
    }

    @Test func everyKeyAndArgsCniOverride() throws {
        let c = try config(#"""
            ,"flushroutes":true,"flushgateway":true,"skipcheck":true,"delroutes":[{"dst":"10.1.0.0/16"}],
             "addroutes":[{"dst":"10.2.0.0/16","gw":"10.0.0.1"}],"addecmproutes":[{"dst":"10.3.0.1/16","gws":["10.0.0.1","10.0.0.2"]}],
             "args":{"cni":{"flushroutes":false,"addroutes":[{"dst":"10.4.0.0/16"}]}}
            """#)
        #expect(!c.flushRoutes && c.flushGateway && c.skipCheck)
        #expect(c.delRoutes.map(\.dst.description) == ["10.1.0.0/16"])
        #expect(c.addRoutes.map(\.dst.description) == ["10.4.0.0/16"])  // args.cni wins
        #expect(c.addECMPRoutes.first?.dst.description == "10.3.0.0/16" && c.addECMPRoutes.first?.gateways.count == 2)
    }

    @Test func argsWithoutCniAndDefaults() throws {
        let c = try config(#","args":{"labels":[]}"#)
        #expect(!c.flushRoutes && !c.flushGateway && !c.skipCheck && c.delRoutes.isEmpty && c.addRoutes.isEmpty)
    }

    @Test(arguments: [#","delroutes":[{"gw":"10.0.0.1"}]"#, #","addroutes":{"dst":"10.0.0.0/8"}"#, #","flushroutes":"yes""#,
                      #","addecmproutes":[{"dst":"10.0.0.0/8","gws":["x"]}]"#])
    func invalid(extra: String) {
        #expect((#expect(throws: CNIError.self) { try config(extra) })?.code == 7)
    }
}
