import Bridge
import CNI
import Foundation
import Macvlan
import PluginKit
import Testing
import TestSupport

/// Inputs a fuzzing pass found to crash or to leave something behind (issue #12, R1–R5); the
/// netns-level halves of R3/R4 are in Integration/Tests/HostDeviceTests.swift.
@Suite struct FuzzRegressionTests {
    /// R1: an MTU past 2^32 trapped the bridge (SIGILL, no output).
    @Test func bridgeMTUPastUInt32IsCodeSeven() {
        let out = PluginCall("ADD", config: #"{"cniVersion":"1.0.0","name":"n","type":"bridge","mtu":4294967296}"#).run(BridgePlugin())
        #expect(out.errorCode == 7, "\(out.text)")
    }

    /// R2/R3: the kernel reads '%' in a name as a template ("a%d" → "a0"): refused before any
    /// plugin runs for ADD and CHECK. DEL takes it (an attachment an older version made so must
    /// still release what it holds).
    @Test(arguments: ["ADD", "CHECK"], ["a%d", "%s", "eth%"])
    func templateInterfaceNamesAreRefused(verb: String, ifName: String) {
        let out = PluginCall(verb, config: #"{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth0"}"#,
                             ifName: ifName).run(MacvlanPlugin())
        #expect(out.errorCode == 4, "\(out.text)")
    }

    @Test func delTakesATemplateNameAndReleases() {
        let out = PluginCall("DEL", config: #"{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"eth0"}"#,
                             ifName: "a%d", netns: "/nonexistent/netns").run(MacvlanPlugin())
        #expect(out.exitCode == 0, "\(out.text)")
    }

    /// R5: a bridge name that climbs out of /run/swift-cni/bridge made DEL create a lock file
    /// wherever it pointed. ADD refuses such a name (7); DEL has nothing of it to undo and
    /// succeeds without touching the file system.
    @Test func bridgeNamesNeverBecomePaths() {
        let target = "swcni-r5-\(UInt32.random(in: 0...UInt32.max))"
        let lock = "/tmp/\(target).lock"
        defer { try? FileManager.default.removeItem(atPath: lock) }
        for name in ["../../../tmp/\(target)", "a/b", "..", "br%d"] {
            let config = #"{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"\#(name)","isGateway":true,"vlan":2}"#
            let del = PluginCall("DEL", config: config, netns: "").run(BridgePlugin())
            #expect(del.exitCode == 0, "\(name): \(del.text)")
            let add = PluginCall("ADD", config: config, netns: "/nonexistent/netns").run(BridgePlugin())
            #expect(add.errorCode == 7, "\(name): \(add.text)")
        }
        #expect(!FileManager.default.fileExists(atPath: lock))
    }

    /// Config names of links (master, device) follow the kernel's rules too.
    @Test(arguments: ["../x", "a b", "toolongname12345", "m%d"])
    func masterNamesAreCheckedAsTheKernelWould(master: String) {
        let out = PluginCall("ADD", config: #"{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"\#(master)"}"#,
                             netns: "/nonexistent/netns").run(MacvlanPlugin())
        #expect(out.errorCode == 7, "\(out.text)")
    }
}
