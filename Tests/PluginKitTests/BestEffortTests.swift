import CNI
import CNIInvoke
import LinuxSystem
import PluginKit
import Testing
import TestSupport

@Suite struct BestEffortTests {
    struct Plain: Error {}

    @Test func everyStepRunsAndTheFirstFailureAnswersWithTheOthers() {
        var ran: [Int] = []
        var steps = BestEffort()
        steps.run { ran.append(1); throw CNIError(.systemFailure, "one", details: "d1") }
        steps.run { ran.append(2) }
        steps.run { ran.append(3); throw CNIError(.invalidNetworkConfig, "three") }
        steps.run { ran.append(4); throw SystemError("unlink", errno: 13, subject: "/x") }
        let e = #expect(throws: CNIError.self) { try steps.finish() }
        #expect(ran == [1, 2, 3, 4])
        #expect(e?.code == 101 && e?.msg == "one")
        #expect(e?.details == "d1; also: three; unlink /x: Permission denied")
    }

    @Test func nothingFailedIsSuccess() throws {
        var steps = BestEffort()
        steps.run {}
        try steps.finish()
    }

    @Test func errorsKeepTheirCodesAndUnknownOnesAre999() {
        var steps = BestEffort()
        steps.run { throw Plain() }
        #expect((#expect(throws: CNIError.self) { try steps.finish() })?.code == 999)
    }
}

@Suite struct StepTests {
    @Test func aLowerLayersErrorIsNamedByTheStepAndKeepsItsCode() {
        let e = #expect(throws: CNIError.self) {
            try step("set \"net1\" up") { throw SystemError("open", errno: 2, subject: "/proc/sys/x") }
        }
        #expect(e?.code == 101 && e?.msg == #"failed to set "net1" up"# && e?.details == "open /proc/sys/x: No such file or directory")
        let passed = #expect(throws: CNIError.self) { try step("anything") { throw CNIError(.invalidNetworkConfig, "said already") } }
        #expect(passed?.code == 7 && passed?.msg == "said already")
    }
}

@Suite struct SkeletonRollbackTests {
    struct FailingAdd: Plugin {
        let about = "fails its ADD, and one undo step too"
        func add(_ r: PluginRequest) throws -> CNIResult {
            try Rollback.run { rb in
                rb.onFailure("delete the link") { throw SystemError("delete link", errno: 16) }
                rb.onFailure("release the address") {}
                throw CNIError(.addressesExhausted, "no addresses left")
            }
        }
        func del(_ r: PluginRequest) throws {}
        func check(_ r: PluginRequest) throws {}
    }

    /// The ADD's own error is the answer; an undo step that failed is said on stderr, not dropped.
    @Test func undoFailuresGoToStderr() {
        let out = PluginCall("ADD", config: #"{"cniVersion":"1.0.0","name":"n","type":"x"}"#).run(FailingAdd())
        #expect(out.errorCode == 110 && out.message == "no addresses left")
        #expect(String(decoding: out.stderr, as: UTF8.self) == "rollback incomplete: delete the link: delete link: Device or resource busy\n")
    }
}
