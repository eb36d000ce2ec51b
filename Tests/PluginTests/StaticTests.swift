import CNI
import PluginKit
import Static
import Testing
import TestSupport

@Suite struct StaticTests {
    func conf(version: String = "1.0.0", _ ipam: String, extra: String = "") -> String {
        #"{"cniVersion":"\#(version)","name":"net1","type":"macvlan"\#(extra),"ipam":{"type":"static",\#(ipam)}}"#
    }

    let base = #""addresses":[{"address":"10.10.0.5/24","gateway":"10.10.0.254"},{"address":"2001:db8::5/64"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["8.8.8.8"]}"#

    func add(_ c: String, args: String = "") -> Skeleton.Output { PluginCall("ADD", config: c, args: args).run(StaticPlugin()) }

    @Test func configuredAddresses() throws {
        let out = add(conf(base))
        #expect(out.json == ["cniVersion": "1.0.0",
                             "ips": [["address": "10.10.0.5/24", "gateway": "10.10.0.254"], ["address": "2001:db8::5/64"]],
                             "routes": [["dst": "0.0.0.0/0"]], "dns": ["nameservers": ["8.8.8.8"]]])
    }

    @Test func precedence() throws {
        // CNI_ARGS IP= appends, GATEWAY= sets the gateway of the addresses containing it.
        let args = add(conf(#""addresses":[{"address":"10.10.0.5/24"}]"#), args: "IP=10.20.0.5/24,10.30.0.5/16;GATEWAY=10.20.0.1")
        #expect(args.json?["ips"] == [["address": "10.10.0.5/24"], ["address": "10.20.0.5/24", "gateway": "10.20.0.1"], ["address": "10.30.0.5/16"]])
        // args.cni.ips replaces them all; runtimeConfig.ips replaces those.
        let a = add(conf(base, extra: #","args":{"cni":{"ips":["10.40.0.5/24"]}}"#), args: "IP=10.20.0.5/24")
        #expect(a.json?["ips"] == [["address": "10.40.0.5/24"]])
        let rc = add(conf(base, extra: #","args":{"cni":{"ips":["10.40.0.5/24"]}},"runtimeConfig":{"ips":["10.50.0.5/24"]}"#))
        #expect(rc.json?["ips"] == [["address": "10.50.0.5/24"]])
    }

    @Test(arguments: [
        (#""addresses":[{"address":"10.10.0.5"}]"#, ""), (#""addresses":[{"gateway":"10.0.0.1"}]"#, ""),
        (#""addresses":[]"#, "IP=10.1.1.1"), (#""addresses":[]"#, "GATEWAY=nope"),
    ])
    func everyAddressMustBeCIDR(ipam: String, args: String) {
        #expect(add(conf(ipam), args: args).errorCode == 7)
    }

    @Test func noIPAMSectionAndTooManyForOldVersions() {
        #expect(add(#"{"cniVersion":"1.0.0","name":"n","type":"x"}"#).message == "IPAM config missing 'ipam' key")
        let two = #""addresses":[{"address":"10.1.0.5/24"},{"address":"10.2.0.5/24"}]"#
        #expect(add(conf(version: "0.2.0", two)).errorCode == 7)
        #expect(add(conf(version: "0.3.1", two)).exitCode == 0)
    }

    @Test func delIsANoOp() {
        #expect(PluginCall("DEL", config: conf(base)).run(StaticPlugin()).exitCode == 0)
        #expect(PluginCall("DEL", config: conf(base), netns: "").run(StaticPlugin()).exitCode == 0)
    }

    @Test func checkComparesWithPrevResult() throws {
        func check(_ prev: JSONValue?) -> Skeleton.Output {
            var c = try! JSONValue.parse(conf(base)).objectValue!
            c["prevResult"] = prev
            return PluginCall("CHECK", config: JSONValue.object(c).serializedString()).run(StaticPlugin())
        }
        let good = try #require(add(conf(base)).json)
        #expect(check(good).exitCode == 0)
        #expect(check(nil).message == "Required prevResult missing")
        #expect(check(["cniVersion": "1.0.0", "ips": [["address": "10.10.0.5/24", "gateway": "10.10.0.254"]]]).errorCode == 7)
        #expect(check(["cniVersion": "1.0.0", "ips": [["address": "10.10.0.5/24", "gateway": "10.10.0.1"], ["address": "2001:db8::5/64"]]]).errorCode == 7)
    }
}
