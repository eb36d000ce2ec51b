import Basics
import CNI
import CNIInvoke
import CNIRuntime
import PluginKit
import Foundation
@testable import LinuxSystem
import Testing
import TestSupport

/// The runtime against the real `cni-noop` executable (exec, env, stdin, cache), no root needed.
final class RuntimeFixture {
    let dir: TemporaryDirectory
    let bin: String
    let confDir: String
    let runtime: CNIRuntime

    init() throws {
        dir = try TemporaryDirectory("swcni-rt")
        bin = dir.file("bin")
        confDir = dir.file("net.d")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
        for name in ["cni-noop", "cni-noop-ipam"] {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + name, withDestinationPath: BuildProducts.path("cni-noop"))
        }
        runtime = CNIRuntime(pluginPaths: ["/nonexistent", bin], cacheDirectory: dir.file("cache"),
                             baseEnvironment: ["PATH": "/usr/bin:/bin", "CNI_COMMAND": "stale"])
    }

    deinit { dir.remove() }

    func log(_ name: String = "log") throws -> [JSONValue] {
        dir.exists(name) ? try jsonLines(dir.read(name)) : []
    }

    func list(_ json: String) throws -> NetworkConfigList { try NetworkConfigList(conflist: Array(json.utf8)) }

    func noop(_ extra: String = "") -> String {
        #"{"type":"cni-noop","noop":{"log":"\#(dir.file("log"))"\#(extra)}}"#
    }

    var rt: RuntimeConf { RuntimeConf(containerID: "ctr1", netns: "/var/run/netns/pod1", ifName: "eth0", args: CNIArgs(pairs: [.init("K8S_POD_NAME", "web")])) }
}

let aResult = #","result":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/pod1"}],"ips":[{"interface":0,"address":"10.9.0.2/24","gateway":"10.9.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}"#

@Suite struct CNIRuntimeTests {
    @Test func addRunsTheChainInOrderPassingEachResultOn() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"0.4.0","name":"chain","plugins":[\#(f.noop(aResult)),\#(f.noop()),{"type":"cni-noop","zz":1,"aa":2}]}"#)
        let result = try f.runtime.add(list, f.rt)
        #expect(result.version == .v0_4_0)
        #expect(result.result.ips.first?.address.description == "10.9.0.2/24")

        let log = try f.log()
        #expect(log.count == 2)
        let first = try JSONValue.parse(log[0]["stdin"]!.stringValue!)
        let second = try JSONValue.parse(log[1]["stdin"]!.stringValue!)
        #expect(first["prevResult"] == nil)
        #expect(first["name"] == "chain" && first["cniVersion"] == "0.4.0")
        // The second plugin gets the first one's result in the list's version.
        #expect(second["prevResult"]?["cniVersion"] == "0.4.0")
        #expect(second["prevResult"]?["ips"]?.arrayValue?.first?["version"] == "4")
        // libcni marshals the injected config as a Go map: keys sorted.
        #expect(log[1]["stdin"]!.stringValue! == second.serializedString(keys: .sorted))
        for entry in log {
            #expect(entry["command"] == "ADD" && entry["containerID"] == "ctr1" && entry["ifName"] == "eth0")
            #expect(entry["netns"] == "/var/run/netns/pod1" && entry["args"] == "K8S_POD_NAME=web")
            #expect(entry["path"] == .string("/nonexistent:" + f.bin))
        }
    }

    @Test func cacheFileIsLibcnisFormat() throws {
        let f = try RuntimeFixture()
        let text = #"{"cniVersion":"1.0.0","name":"cached","plugins":[\#(f.noop(aResult))]}"#
        let list = try f.list(text)
        var rt = f.rt
        rt.capabilityArgs = JSONObject([("mac", "c2:11:22:33:44:55")])
        _ = try f.runtime.add(list, rt)
        let path = f.dir.file("cache/results/cached-ctr1-eth0")
        #expect(try FileSystem.mode(path) == 0o600)
        #expect(try FileSystem.mode(f.dir.file("cache/results")) == 0o700)
        let cache = try JSONValue.parse(Array(FileManager.default.contents(atPath: path)!))
        #expect(cache.objectValue?.keys == ["kind", "containerId", "config", "ifName", "networkName", "netns", "cniArgs",
                                            "capabilityArgs", "result"])
        #expect(cache["kind"] == "cniCacheV1" && cache["containerId"] == "ctr1" && cache["ifName"] == "eth0")
        #expect(cache["networkName"] == "cached" && cache["netns"] == "/var/run/netns/pod1")
        #expect(cache["cniArgs"] == [["K8S_POD_NAME", "web"]])
        #expect(cache["capabilityArgs"] == ["mac": "c2:11:22:33:44:55"])
        #expect(cache["config"] == .string(Data(text.utf8).base64EncodedString()))
        #expect(cache["result"]?["ips"]?.arrayValue?.first?["address"] == "10.9.0.2/24")
    }

    @Test func capabilitiesBecomeRuntimeConfigOnlyWhenDeclared() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"""
            {"cniVersion":"1.0.0","name":"caps","plugins":[{"type":"cni-noop","capabilities":{"mac":true,"ips":false},
             "runtimeConfig":{"stale":1},"noop":{"log":"\#(f.dir.file("log"))"}}]}
            """#)
        var rt = f.rt
        rt.capabilityArgs = JSONObject([("mac", "c2:11:22:33:44:55"), ("ips", ["10.0.0.5/24"]), ("portMappings", [])])
        _ = try f.runtime.add(list, rt)
        let stdin = try JSONValue.parse(try f.log()[0]["stdin"]!.stringValue!)
        #expect(stdin["runtimeConfig"] == ["mac": "c2:11:22:33:44:55"])
    }

    @Test func delRunsInReverseWithTheCachedResultAndDropsTheCache() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"0.4.0","name":"d","plugins":[\#(f.noop(aResult + #","tag":"first""#)),\#(f.noop(#","tag":"second""#))]}"#)
        _ = try f.runtime.add(list, f.rt)
        try f.runtime.del(list, f.rt)
        let dels = try f.log().filter { $0["command"] == "DEL" }
        let stdins = try dels.map { try JSONValue.parse($0["stdin"]!.stringValue!) }
        #expect(stdins.map { $0["noop"]?["tag"] } == ["second", "first"])
        #expect(stdins.allSatisfy { $0["prevResult"]?["ips"]?.arrayValue?.first?["address"] == "10.9.0.2/24" })
        #expect(!f.dir.exists("cache/results/d-ctr1-eth0"))
        // DEL again: no cache, still fine, no prevResult.
        try f.runtime.del(list, f.rt)
        let last = try JSONValue.parse(try f.log().last!["stdin"]!.stringValue!)
        #expect(last["prevResult"] == nil)
    }

    @Test func delBelowZeroFourSendsNoPrevResult() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"0.3.1","name":"old","plugins":[\#(f.noop(aResult))]}"#)
        _ = try f.runtime.add(list, f.rt)
        try f.runtime.del(list, f.rt)
        #expect(try JSONValue.parse(try f.log().last!["stdin"]!.stringValue!)["prevResult"] == nil)
    }

    @Test func checkGatesAndUsesTheCache() throws {
        let f = try RuntimeFixture()
        let old = try f.list(#"{"cniVersion":"0.3.1","name":"c","plugins":[\#(f.noop(aResult))]}"#)
        #expect((#expect(throws: CNIError.self) { try f.runtime.check(old, f.rt) })?.code == 1)
        let list = try f.list(#"{"cniVersion":"1.0.0","name":"c","plugins":[\#(f.noop(aResult))]}"#)
        #expect(throws: CNIError.self) { try f.runtime.check(list, f.rt) }  // nothing cached yet
        _ = try f.runtime.add(list, f.rt)
        try f.runtime.check(list, f.rt)
        let check = try f.log().last!
        #expect(check["command"] == "CHECK")
        #expect(try JSONValue.parse(check["stdin"]!.stringValue!)["prevResult"]?["ips"] != nil)

        let skipped = try f.list(#"{"cniVersion":"1.0.0","name":"c","disableCheck":"true","plugins":[\#(f.noop())]}"#)
        let before = try f.log().count
        try f.runtime.check(skipped, f.rt)
        #expect(try f.log().count == before)
    }

    @Test func statusStopsAtTheFirstPluginNotReady() throws {
        let f = try RuntimeFixture()
        // Before 1.1.0 there is no STATUS: ready, and no plugin is asked.
        let old = try f.list(#"{"cniVersion":"1.0.0","name":"s","plugins":[\#(f.noop())]}"#)
        try f.runtime.status(old)
        #expect(try f.log().isEmpty)
        let list = try f.list(#"{"cniVersion":"1.1.0","name":"s","plugins":[\#(f.noop(#","failOn":["STATUS"],"code":50,"msg":"no leases""#)),\#(f.noop())]}"#)
        let e = #expect(throws: CNIError.self) { try f.runtime.status(list) }
        #expect(e?.code == 50)
        #expect(e?.msg.contains("no leases") == true)
        let log = try f.log()
        #expect(log.count == 1)
        #expect(log[0]["containerID"] == "" && log[0]["ifName"] == "")
    }

    @Test func gcDeletesStaleAttachmentsThenTellsEveryPlugin() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"1.1.0","name":"g","plugins":[\#(f.noop(aResult)),\#(f.noop())]}"#)
        let keep = RuntimeConf(containerID: "keep", netns: "/n1", ifName: "eth0")
        let stale = RuntimeConf(containerID: "stale", netns: "/n2", ifName: "net1")
        _ = try f.runtime.add(list, keep)
        _ = try f.runtime.add(list, stale)
        let before = try f.log().count
        try f.runtime.gc(list, valid: [keep.attachment])
        let log = Array(try f.log().dropFirst(before))
        #expect(log.filter { $0["command"] == "DEL" }.allSatisfy { $0["containerID"] == "stale" && $0["ifName"] == "net1" })
        #expect(log.filter { $0["command"] == "DEL" }.count == 2)
        let gcs = log.filter { $0["command"] == "GC" }
        #expect(gcs.count == 2)
        for g in gcs {
            let stdin = try JSONValue.parse(g["stdin"]!.stringValue!)
            #expect(stdin["cni.dev/valid-attachments"] == [["containerID": "keep", "ifname": "eth0"]])
        }
        #expect(f.dir.exists("cache/results/g-keep-eth0"))
        #expect(!f.dir.exists("cache/results/g-stale-net1"))
    }

    @Test func gcOnOlderVersionsOnlyDeletes() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"1.0.0","name":"g","plugins":[\#(f.noop(aResult))]}"#)
        _ = try f.runtime.add(list, f.rt)
        try f.runtime.gc(list, valid: [])
        #expect(try f.log().map { $0["command"] } == ["ADD", "DEL"])
        let off = try f.list(#"{"cniVersion":"1.1.0","name":"g","disableGC":true,"plugins":[\#(f.noop())]}"#)
        try f.runtime.gc(off, valid: [])
        #expect(try f.log().count == 2)
    }

    @Test func aFailingPluginStopsAddAndCachesNothing() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"1.0.0","name":"bad","plugins":[\#(f.noop(aResult)),{"type":"cni-noop","name":"second","noop":{"failOn":["ADD"],"code":7,"msg":"no good"}}]}"#)
        let e = #expect(throws: CNIError.self) { try f.runtime.add(list, f.rt) }
        #expect(e?.code == 7)
        #expect(e?.msg == #"plugin type="cni-noop" name="second" failed (add): no good"#)
        #expect(!f.dir.exists("cache/results/bad-ctr1-eth0"))
    }

    @Test func missingPluginIsReported() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"1.0.0","name":"m","plugins":[{"type":"no-such-plugin"}]}"#)
        let e = #expect(throws: CNIError.self) { try f.runtime.add(list, f.rt) }
        #expect(e?.msg.contains("failed to find plugin \"no-such-plugin\"") == true)
    }

    @Test func invalidAttachmentNamesAreRejectedBeforeRunning() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"{"cniVersion":"1.0.0","name":"m","plugins":[\#(f.noop())]}"#)
        var rt = f.rt
        rt.ifName = "much-too-long-name"
        #expect(throws: CNIError.self) { try f.runtime.add(list, rt) }
        #expect(try f.log().isEmpty)
    }

    @Test func ipamDelegationThroughExec() throws {
        let f = try RuntimeFixture()
        let list = try f.list(#"""
            {"cniVersion":"0.3.1","name":"ipam","plugins":[{"type":"cni-noop","noop":{"log":"\#(f.dir.file("log"))"},
             "ipam":{"type":"cni-noop-ipam","log":"\#(f.dir.file("ipamlog"))","result":{"ips":[{"version":"4","address":"10.1.1.7/24"}]}}}]}
            """#)
        let r = try f.runtime.add(list, f.rt)
        #expect(r.result.ips.first?.address.description == "10.1.1.7/24")
        let outer = try f.log()[0], inner = try f.log("ipamlog")[0]
        #expect(outer["stdin"] == inner["stdin"])  // the delegate gets the very same bytes
        #expect(inner["command"] == "ADD" && inner["containerID"] == "ctr1")
        try f.runtime.del(list, f.rt)
        #expect(try f.log("ipamlog").last?["command"] == "DEL")
    }

    @Test func versionQuery() throws {
        let f = try RuntimeFixture()
        let info = try f.runtime.versionInfo(pluginType: "cni-noop")
        #expect(info.cniVersion == "1.1.0")
        #expect(info.supported == CNIVersion.allCases.map(\.rawValue))
    }
}

@Suite struct ConfigLoaderTests {
    @Test func conflistsFirstThenConfsInSortedOrder() throws {
        let d = try TemporaryDirectory("swcni-conf")
        defer { d.remove() }
        try d.write("05-a.conf", #"{"cniVersion":"0.3.1","name":"a","type":"from-conf"}"#)
        try d.write("20-a.conflist", #"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"second"}]}"#)
        try d.write("10-a.conflist", #"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"first"}]}"#)
        try d.write("30-b.json", #"{"cniVersion":"0.4.0","name":"b","type":"bee"}"#)
        try d.write("40-broken.conf", "{")
        try d.write("50-c.txt", #"{"name":"c","type":"x"}"#)
        let a = try ConfigLoader.loadList(directory: d.path, name: "a")
        #expect(a.plugins.first?["type"] == "first")
        let b = try ConfigLoader.loadList(directory: d.path, name: "b")
        #expect(b.cniVersion == "0.4.0" && b.plugins.first?["type"] == "bee" && b.name == "b")
        let e = #expect(throws: CNIError.self) { try ConfigLoader.loadList(directory: d.path, name: "c") }
        #expect(e?.msg == "no net configuration with name \"c\" in \(d.path)")
    }

    @Test func versionSelection() throws {
        func v(_ s: String) throws -> String { try NetworkConfigList(conflist: Array(s.utf8)).cniVersion }
        #expect(try v(#"{"cniVersion":"0.4.0","cniVersions":["1.0.0","1.1.0","2.0.0"],"name":"n","plugins":[{"type":"t"}]}"#) == "1.1.0")
        #expect(try v(#"{"name":"n","plugins":[{"type":"t"}]}"#) == "0.1.0")
        #expect(try v(#"{"cniVersion":"3.0.0","name":"n","plugins":[{"type":"t"}]}"#) == "3.0.0")
        #expect(throws: CNIError.self) { try v(#"{"cniVersion":"x","name":"n","plugins":[{"type":"t"}]}"#) }
    }

    @Test(arguments: [#"{"name":"n","plugins":[]}"#, #"{"plugins":[{"type":"t"}]}"#, #"{"name":"n","plugins":[{"x":1}]}"#,
                      #"{"name":"n"}"#, #"{"name":"n","plugins":[{"type":"t"}],"disableCheck":"maybe"}"#])
    func invalidLists(text: String) {
        #expect(throws: CNIError.self) { try NetworkConfigList(conflist: Array(text.utf8)) }
    }
}

@Suite struct ContainerIDTests {
    @Test func cnitoolContainerIDIsSHA512OfThePath() {
        #expect(ContainerIDs.cnitool(netnsPath: "/var/run/netns/pod1") == "cnitool-bea13e247008fe5f4a37")
    }
}

@Suite struct SubprocessTests {
    /// A child that writes a lot before reading a large stdin must not deadlock us.
    @Test func largeStdinAndStdoutTogether() throws {
        let input = String(repeating: "x", count: 1_000_000)
        let out = try Subprocess.run("/bin/sh", arguments: ["-c", "head -c 300000 /dev/zero; cat >/dev/null; echo done"],
                                     environment: ["PATH=/usr/bin:/bin"], stdin: Array(input.utf8))
        #expect(out.status == 0)
        #expect(out.stdout.count == 300_005)
    }

    @Test func exitStatusAndSignals() throws {
        #expect(try Subprocess.run("/bin/sh", arguments: ["-c", "exit 3"], environment: []).status == 3)
        #expect(try Subprocess.run("/bin/sh", arguments: ["-c", "kill -9 $$"], environment: []).status == 137)
        #expect(throws: SystemError.self) { try Subprocess.run("/nonexistent", environment: []) }
    }

    /// A child that exits without reading its stdin: the run succeeds, and neither the thread's
    /// signal mask nor a pending SIGPIPE is left behind.
    @Test func aChildThatIgnoresItsStdinLeavesNothingBehind() throws {
        var maskBefore = sigset_t(), maskAfter = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &maskBefore)
        let out = try Subprocess.run("/bin/true", environment: [], stdin: Array(repeating: 0x78, count: 4_000_000))
        #expect(out.status == 0)
        pthread_sigmask(SIG_SETMASK, nil, &maskAfter)
        #expect(sigismember(&maskAfter, SIGPIPE) == sigismember(&maskBefore, SIGPIPE))
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
    }

    /// The guard itself, independent of how the process handles SIGPIPE (NIO, in this same test
    /// process, ignores it process-wide): blocked while held, a raised one consumed, the mask back.
    @Test func sigpipeGuardBlocksConsumesAndRestores() {
        var before = sigset_t(), during = sigset_t(), after = sigset_t(), pending = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &before)
        let guardian = SigpipeGuard()
        pthread_sigmask(SIG_SETMASK, nil, &during)
        #expect(sigismember(&during, SIGPIPE) == 1)
        pthread_kill(pthread_self(), SIGPIPE)     // blocked: stays pending, whatever the handler
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 1)
        guardian.consume()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
        guardian.restore()
        pthread_sigmask(SIG_SETMASK, nil, &after)
        #expect(sigismember(&after, SIGPIPE) == sigismember(&before, SIGPIPE))
    }

    /// A program still open for writing (ETXTBSY, a plugin being installed) is retried until the
    /// writer closes it, as libcni does.
    @Test func aProgramBeingWrittenIsRetried() throws {
        let dir = try TemporaryDirectory("swcni-etxtbsy")
        defer { dir.remove() }
        let path = dir.file("plugin")
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o755)
        try #require(fd >= 0)
        let script = Array("#!/bin/sh\necho ready\n".utf8)
        _ = script.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // Closed by another thread a moment later: the first exec attempts see ETXTBSY.
        let closer = Thread { usleep(150_000); close(fd) }
        closer.start()
        let started = Date()
        let out = try Subprocess.run(path, environment: [])
        #expect(out.status == 0 && String(decoding: out.stdout, as: UTF8.self) == "ready\n")
        #expect(Date().timeIntervalSince(started) >= 0.1)
    }
}

extension CNIRuntimeTests {
    /// A plugin printing a result of a version nobody knows fails the ADD (code 1) and nothing is
    /// cached, instead of the result being read as the list's version.
    @Test func aResultInAnUnknownVersionIsAnError() throws {
        let f = try RuntimeFixture()
        struct Canned: PluginInvoker {
            let out: [UInt8]
            func invoke(type: String, paths: [String], environment: [String: String], stdin: [UInt8]) throws(CNIError) -> [UInt8] { out }
        }
        let bogus = Array(#"{"cniVersion":"0.2.1","ip4":{"ip":"10.0.0.2/24"}}"#.utf8)
        let rt = CNIRuntime(pluginPaths: [], cacheDirectory: f.dir.file("cache"), invoker: Canned(out: bogus))
        let e = #expect(throws: CNIError.self) { try rt.add(try f.list(#"{"cniVersion":"1.0.0","name":"u","plugins":[{"type":"x"}]}"#), f.rt) }
        #expect(e?.code == 1)
        #expect(e?.details == #"unsupported CNI result version "0.2.1""#)
        #expect(!f.dir.exists("cache/results/u-ctr1-eth0"))
    }

    @Test func aBadlyNamedUnrelatedListDoesNotBlockLoading() throws {
        let d = try TemporaryDirectory("swcni-conf")
        defer { d.remove() }
        try d.write("05-x.conflist", #"{"cniVersion":"1.0.0","name":"foo bar","plugins":[{"type":"t"}]}"#)
        try d.write("10-ok.conflist", #"{"cniVersion":"1.0.0","name":"ok","plugins":[{"type":"t"}]}"#)
        #expect(try ConfigLoader.loadList(directory: d.path, name: "ok").name == "ok")
    }
}
