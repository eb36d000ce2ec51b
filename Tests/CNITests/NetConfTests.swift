import CNI
import Testing

@Suite struct NetConfTests {
    func conf(_ s: String) throws -> NetConf { try NetConf(bytes: Array(s.utf8)) }

    @Test func decodesWellKnownKeysAndKeepsTheRest() throws {
        let c = try conf(#"""
            {"cniVersion":"0.4.0","name":"net1","type":"macvlan","master":"eth0",
             "capabilities":{"ips":true,"mac":false},"ipam":{"type":"host-local","subnet":"10.0.0.0/24"},
             "dns":{"nameservers":["1.1.1.1"]},"runtimeConfig":{"mac":"c2:11:22:33:44:55"},
             "args":{"cni":{"ips":["10.0.0.9/24"]}}}
            """#)
        #expect(c.cniVersionString == "0.4.0")
        #expect(try c.version() == .v0_4_0)
        #expect(c.name == "net1" && c.type == "macvlan")
        #expect(c.capabilities == ["ips": true, "mac": false])
        #expect(c.ipamType == "host-local")
        #expect(c.dns.nameservers == ["1.1.1.1"])
        #expect(c.runtimeConfig["mac"] == "c2:11:22:33:44:55")
        #expect(c.argsCNI?["ips"] == ["10.0.0.9/24"])
        #expect(c.raw["master"] == "eth0")
    }

    @Test func missingVersionMeansOneZeroOne() throws {
        #expect(try conf(#"{"name":"n","type":"t"}"#).version() == .v0_1_0)
    }

    @Test(arguments: [
        (#"{"name":"#, 6), (#"[1]"#, 6), (#"{"type":"t"}"#, 7), (#"{"name":""}"#, 7),
        (#"{"name":"-bad"}"#, 7), (#"{"name":"a/b"}"#, 7), (#"{"name":5}"#, 6), (#"{"name":"n","ipam":[]}"#, 6),
        (#"{"name":"n","capabilities":{"ips":"yes"}}"#, 6),
    ])
    func badConfigsHaveTheirCodes(text: String, code: Int) {
        let e = #expect(throws: CNIError.self) { try conf(text) }
        #expect(e?.code == code)
    }

    @Test func unsupportedVersionIsCodeOneNamingBoth() throws {
        let e = #expect(throws: CNIError.self) { try conf(#"{"cniVersion":"9.9.9","name":"n"}"#).version() }
        #expect(e?.code == 1)
        #expect(e?.details == #"config is "9.9.9", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]"#)
    }

    @Test func prevResultIsReadInTheConfigVersion() throws {
        let c = try conf(#"""
            {"cniVersion":"0.3.1","name":"n","prevResult":{"cniVersion":"0.3.1",
             "interfaces":[{"name":"eth0","sandbox":"/x"}],
             "ips":[{"version":"4","interface":0,"address":"10.0.0.2/24"}]}}
            """#)
        let r = try #require(try c.prevResult())
        #expect(r.interfaces.first?.name == "eth0")
        #expect(r.ips.first?.address.description == "10.0.0.2/24")
        #expect(r.ips.first?.interface == 0)
    }

    @Test func validAttachments() throws {
        let c = try conf(#"{"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}"#)
        #expect(try c.validAttachments() == [Attachment(containerID: "c1", ifname: "eth0")])
        let legacy = try conf(#"{"cniVersion":"1.1.0","name":"n","cni.dev/attachments":[{"containerID":"c2","ifname":"net1"}]}"#)
        #expect(try legacy.validAttachments() == [Attachment(containerID: "c2", ifname: "net1")])
        #expect(throws: CNIError.self) { try conf(#"{"cniVersion":"1.1.0","name":"n"}"#).validAttachments() }
    }
}

@Suite struct CNIArgsTests {
    @Test func parsesPairsInOrder() throws {
        let a = try CNIArgs(parsing: "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5")
        #expect(a["IP"] == "10.0.0.5")
        #expect(a.pairs.count == 3)
        #expect(a.encoded == "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5")
        try a.validate(known: ["IP"])
    }

    @Test func emptyIsNoArgs() throws {
        #expect(try CNIArgs(parsing: "").pairs.isEmpty)
    }

    @Test(arguments: ["IP=a=b", "IP", "IP=1;", ";", "a=b;;c=d"])
    func invalidPairs(text: String) {
        let e = #expect(throws: CNIError.self) { try CNIArgs(parsing: text) }
        #expect(e?.msg.hasPrefix("ARGS: invalid pair") == true)
    }

    @Test func unknownKeysNeedIgnoreUnknown() throws {
        let strict = try CNIArgs(parsing: "K8S_POD_NAME=web;IP=10.0.0.5")
        let e = #expect(throws: CNIError.self) { try strict.validate(known: ["IP"]) }
        #expect(e?.msg == #"ARGS: unknown args ["K8S_POD_NAME=web"]"#)
        for value in ["1", "true", "True", "TRUE"] {
            try CNIArgs(parsing: "IgnoreUnknown=\(value);K8S_POD_NAME=web").validate(known: [])
        }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "IgnoreUnknown=0;X=1").validate(known: []) }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "IgnoreUnknown=yes").validate(known: []) }
    }

    @Test func keysAreCaseSensitive() throws {
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "ip=10.0.0.5").validate(known: ["IP"]) }
    }
}

@Suite struct NamesTests {
    @Test(arguments: ["a", "A1", "abc-def_g.h", "0abc"])
    func validNames(name: String) throws {
        try Names.validateContainerID(name)
        try Names.validateNetworkName(name)
    }

    @Test func containerIDCodes() {
        #expect((#expect(throws: CNIError.self) { try Names.validateContainerID("") })?.code == 3)
        for bad in ["-a", ".a", "a b", "a/b", "a;b", "é"] {
            #expect((#expect(throws: CNIError.self) { try Names.validateContainerID(bad) })?.code == 4)
        }
    }

    @Test(arguments: ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "abcdefghijklmnop"])
    func badInterfaceNames(name: String) {
        #expect((#expect(throws: CNIError.self) { try Names.validateInterfaceName(name) })?.code == 4)
    }

    @Test(arguments: ["eth0", "net1", "abcdefghijklmno", "a.b", "veth-x_1"])
    func goodInterfaceNames(name: String) throws {
        try Names.validateInterfaceName(name)
    }
}

extension CNIArgsTests {
    /// Go splits "=" into two empty parts: a pair with an empty key, i.e. an unknown arg.
    @Test func emptyKeyIsAnUnknownArg() throws {
        let a = try CNIArgs(parsing: "=")
        #expect(throws: CNIError.self) { try a.validate(known: ["IP"]) }
        try CNIArgs(parsing: "IgnoreUnknown=1;=").validate(known: [])
    }
}
