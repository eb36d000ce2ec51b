import Bridge
import CNI
import Foundation
import Testing

/// The bridge's config: defaults, every key, the trunk syntax and the MAC precedence, without root.
@Suite struct BridgeConfigTests {
    func config(_ extra: String, args: String = "") throws -> BridgeConfig {
        let conf = try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"bridge"\#(extra)}"#.utf8))
        let c = try BridgeConfig(conf, args: CNIArgs(parsing: args))
        try c.validateForAdd()
        return c
    }

    /// DEL, CHECK and GC read a config that only ADD refuses: a pod whose ADD was refused can go.
    @Test func onlyADDRefusesWhatTheReferencesCmdAddRefuses() throws {
        for extra in [#","hairpinMode":true,"promiscMode":true"#, #","runtimeConfig":{"mac":"nope"}"#, #","mtu":-1"#,
                      #","ipMasqBackend":"ebtables""#, #","disableContainerInterface":true,"ipam":{"type":"static"}"#] {
            let conf = try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"bridge"\#(extra)}"#.utf8))
            let c = try BridgeConfig(conf, args: CNIArgs())
            #expect(throws: CNIError.self, "\(extra)") { try c.validateForAdd() }
        }
        // VLAN values stay errors on every verb (the reference's loadNetConf checks them).
        let bad = try NetConf(bytes: Array(#"{"cniVersion":"1.0.0","name":"n","type":"bridge","vlan":5000}"#.utf8))
        #expect(throws: CNIError.self) { try BridgeConfig(bad, args: CNIArgs()) }
    }

    @Test func defaults() throws {
        let c = try config("")
        #expect(c.bridge == "cni0" && !c.isGateway && !c.isDefaultGateway && !c.forceAddress && !c.ipMasq)
        #expect(c.ipMasqBackend == nil && c.mtu == 0 && !c.hairpinMode && !c.promiscMode)
        #expect(c.vlan == 0 && c.trunk.isEmpty && !c.preserveDefaultVlan && !c.vlanFiltering)
        #expect(!c.macSpoofCheck && !c.enableDAD && !c.disableContainerInterface && !c.portIsolation)
        #expect(c.mac == nil && c.ipamType == nil)
        #expect(try config(#","bridge":"""#).bridge == "cni0")
    }

    @Test func everyKey() throws {
        let c = try config(#"""
            ,"bridge":"br5","isDefaultGateway":true,"forceAddress":true,"ipMasq":true,"ipMasqBackend":"iptables",
            "mtu":1400,"hairpinMode":true,"vlan":100,"vlanTrunk":[{"id":7}],"preserveDefaultVlan":true,"macspoofchk":true,
            "enabledad":true,"portIsolation":true,"ipam":{"type":"host-local"},"dns":{"nameservers":["10.0.0.53"]}
            """#)
        #expect(c.bridge == "br5" && c.isDefaultGateway && c.isGateway && c.forceAddress && c.ipMasq && c.ipMasqBackend == .iptables)
        #expect(c.mtu == 1400 && c.hairpinMode && c.vlan == 100 && c.trunk == [7] && c.preserveDefaultVlan)
        #expect(c.macSpoofCheck && c.enableDAD && c.portIsolation && c.ipamType == "host-local")
        #expect(c.dns.nameservers == ["10.0.0.53"] && c.vlanFiltering)
    }

    @Test func trunkIDsAndRangesFoldIntoSortedUniqueIDs() throws {
        let c = try config(#","vlanTrunk":[{"minID":10,"maxID":12},{"id":5},{"id":11},{"minID":4094,"maxID":4094}]"#)
        #expect(c.trunk == [5, 10, 11, 12, 4094])
        #expect(try config(#","vlanTrunk":[]"#).trunk.isEmpty)
    }

    @Test(arguments: [
        (#","hairpinMode":true,"promiscMode":true"#, "hairpin mode and promiscuous mode"),
        (#","vlan":-1"#, "invalid VLAN ID"),
        (#","vlan":4095"#, "invalid VLAN ID"),
        (#","vlanTrunk":[{"id":0}]"#, "incorrect trunk id"),
        (#","vlanTrunk":[{"id":4095}]"#, "incorrect trunk id"),
        (#","vlanTrunk":[{"minID":0,"maxID":5}]"#, "incorrect trunk minID"),
        (#","vlanTrunk":[{"minID":5,"maxID":4095}]"#, "incorrect trunk maxID"),
        (#","vlanTrunk":[{"minID":9,"maxID":5}]"#, "minID is greater than maxID"),
        (#","vlanTrunk":[{"minID":5}]"#, "maxID is missing"),
        (#","vlanTrunk":[{"maxID":5}]"#, "minID is missing"),
        (#","vlanTrunk":[5]"#, "vlanTrunk[0]"),
        (#","mtu":-1"#, "invalid mtu"),
        (#","ipMasqBackend":"ebtables""#, "unknown ipmasq backend"),
        (#","disableContainerInterface":true,"ipam":{"type":"static"}"#, "disableContainerInterface"),
        (#","isGateway":"yes""#, "isGateway"),
        (#","runtimeConfig":{"mac":"01:00:5e:00:00:01"}"#, "invalid MAC"),
    ])
    func invalid(extra: String, message: String) {
        do {
            _ = try config(extra)
            Issue.record("accepted \(extra)")
        } catch let error as CNIError {
            #expect(error.code == 7, "\(extra)")
            #expect(error.description.contains(message), "\(extra): \(error.description)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func macPrecedence() throws {
        let all = #","args":{"cni":{"mac":"02:00:00:00:00:02"}},"runtimeConfig":{"mac":"02:00:00:00:00:03"}"#
        #expect(try config("", args: "MAC=02:00:00:00:00:01").mac?.description == "02:00:00:00:00:01")
        #expect(try config(#","args":{"cni":{"mac":"02:00:00:00:00:02"}}"#, args: "MAC=02:00:00:00:00:01").mac?.description == "02:00:00:00:00:02")
        #expect(try config(all, args: "MAC=02:00:00:00:00:01").mac?.description == "02:00:00:00:00:03")
    }

    @Test func theConfExamplesMeanWhatTheySay() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Conf").path
        func load(_ f: String) throws -> BridgeConfig {
            let conf = try NetConf(bytes: Array(try #require(FileManager.default.contents(atPath: dir + "/" + f))))
            return try BridgeConfig(conf, args: CNIArgs())
        }
        let openshift = try load("bridge-vlan-openshift.json")
        #expect(openshift.bridge == "cni0" && openshift.vlan == 2 && openshift.isGateway && openshift.ipamType == "dhcp")
        let trunk = try load("bridge-vlan-trunk.conf")
        #expect(trunk.trunk == [101] + Array(200...299) && trunk.vlan == 0)
        let plain = try load("bridge.conf")
        #expect(plain.bridge == "mynet0" && plain.isDefaultGateway && plain.ipMasq && plain.hairpinMode && !plain.forceAddress)
    }
}
