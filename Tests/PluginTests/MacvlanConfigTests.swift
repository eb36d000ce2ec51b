import CNI
import Macvlan
import Netlink
import Testing

/// macvlan's config and its precedence, without root.
@Suite struct MacvlanConfigTests {
    func config(_ extra: String, args: String = "") throws -> MacvlanConfig {
        let conf = try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"macvlan"\#(extra)}"#.utf8))
        return try MacvlanConfig(conf, args: CNIArgs(parsing: args))
    }

    @Test func defaults() throws {
        let c = try config("")
        #expect(c.master == nil && c.mode == .bridge && c.mtu == 0 && c.mac == nil && !c.linkInContainer)
        #expect(c.broadcastQueueLength == nil && c.ipamType == nil)
    }

    @Test(arguments: MacvlanMode.allCases)
    func modesMapBothWays(mode: MacvlanMode) throws {
        #expect(try config(#","mode":"\#(mode.rawValue)""#).mode == mode)
        #expect(MacvlanMode(kernelValue: mode.kernelValue) == mode)
    }

    @Test func macPrecedence() throws {
        #expect(try config(#","mac":"c2:00:00:00:00:01""#).mac?.description == "c2:00:00:00:00:01")
        #expect(try config(#","mac":"c2:00:00:00:00:01""#, args: "MAC=C2:00:00:00:00:02").mac?.description == "c2:00:00:00:00:02")
        #expect(try config(#","mac":"c2:00:00:00:00:01","runtimeConfig":{"mac":"c2:00:00:00:00:03"}"#,
                           args: "MAC=c2:00:00:00:00:02").mac?.description == "c2:00:00:00:00:03")
    }

    @Test(arguments: [#","mode":"l2""#, #","mtu":-1"#, #","mac":"nope""#, #","mac":"01:00:5e:00:00:01""#,
                      #","bcqueuelen":-5"#, #","master":5"#, #","linkInContainer":"yes""#])
    func invalid(extra: String) {
        #expect(throws: CNIError.self) { try config(extra) }
    }

    @Test func everyKey() throws {
        let c = try config(#","master":"eth1","mode":"vepa","mtu":1400,"linkInContainer":true,"bcqueuelen":64,"ipam":{"type":"static"},"dns":{"nameservers":["1.1.1.1"]}"#)
        #expect(c.master == "eth1" && c.mode == .vepa && c.mtu == 1400 && c.linkInContainer)
        #expect(c.broadcastQueueLength == 64 && c.ipamType == "static" && c.dns.nameservers == ["1.1.1.1"])
    }
}
