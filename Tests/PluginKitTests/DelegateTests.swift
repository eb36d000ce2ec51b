import CNI
import CNIInvoke
import PluginKit
import Testing

/// Records what a delegate was asked and answers with canned output.
final class RecordingInvoker: PluginInvoker, @unchecked Sendable {
    var calls: [(type: String, paths: [String], env: [String: String], stdin: [UInt8])] = []
    var answer: Result<[UInt8], CNIError>

    init(answer: Result<[UInt8], CNIError>) { self.answer = answer }

    func invoke(type: String, paths: [String], environment: [String: String], stdin: [UInt8]) throws(CNIError) -> [UInt8] {
        calls.append((type, paths, environment, stdin))
        return try answer.get()
    }
}

@Suite struct DelegateTests {
    func request(_ version: String = "0.4.0") throws -> PluginRequest {
        let stdin = Array(#"{"cniVersion":"\#(version)","name":"n","type":"macvlan","ipam":{"type":"host-local","x":1}}"#.utf8)
        return PluginRequest(command: .add, containerID: "c", netns: "/n", ifName: "eth0", path: ["/opt/cni/bin"],
                             stdin: stdin, config: try NetConf(bytes: stdin), version: try CNIVersion(rawValue: version).unwrap(),
                             environment: ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "OTHER": "kept"])
    }

    @Test func passesTheSameConfigAndEnvironmentWithTheVerbOverridden() throws {
        let inv = RecordingInvoker(answer: .success(Array(#"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}]}"#.utf8)))
        let r = try request()
        let result = try Delegate(invoker: inv).add("host-local", r)
        #expect(result.ips.first?.address.description == "10.0.0.2/24")
        try Delegate(invoker: inv).del("host-local", r)
        #expect(inv.calls.map(\.env["CNI_COMMAND"]) == ["ADD", "DEL"])
        #expect(inv.calls.allSatisfy { $0.stdin == r.stdin && $0.type == "host-local" && $0.env["OTHER"] == "kept" })
        #expect(inv.calls[0].paths == ["/opt/cni/bin"])
    }

    @Test func delegateErrorsKeepTheirCode() throws {
        let inv = RecordingInvoker(answer: .failure(CNIError(code: 7, msg: "bad range")))
        let e = #expect(throws: CNIError.self) { try Delegate(invoker: inv).add("host-local", try request()) }
        #expect(e?.code == 7)
    }

    @Test func garbageResultIsADelegateFailure() throws {
        let inv = RecordingInvoker(answer: .success(Array("not json".utf8)))
        let e = #expect(throws: CNIError.self) { try Delegate(invoker: inv).add("host-local", try request()) }
        #expect(e?.code == 100)
    }
}

@Suite struct RollbackTests {
    @Test func unwindsNewestFirstAndKeepsGoing() {
        nonisolated(unsafe) var log: [String] = []
        struct Boom: Error { var step = "" }
        let e = #expect(throws: UnwoundError.self) {
            try Rollback.run { rb in
                log.append("do 1"); rb.onFailure("one") { log.append("undo 1") }
                log.append("do 2"); rb.onFailure("two") { log.append("undo 2"); throw Boom(step: "undo") }
                log.append("do 3"); rb.onFailure("three") { log.append("undo 3") }
                throw Boom(step: "do")
            }
        }
        #expect(log == ["do 1", "do 2", "do 3", "undo 3", "undo 2", "undo 1"])
        // The ADD's own error stays the answer; the failed undo step is carried along for stderr.
        #expect((e?.error as? Boom)?.step == "do")
        #expect(e?.undoFailures == [#"two: Boom(step: "undo")"#])
    }

    @Test func anUndoThatWorksLeavesTheErrorAsItWas() {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try Rollback.run { rb in rb.onFailure("x") {}; throw Boom() } }
    }

    @Test func successRunsNoUndo() throws {
        nonisolated(unsafe) var undone = false
        let v = try Rollback.run { rb in rb.onFailure("x") { undone = true }; return 5 }
        #expect(v == 5 && !undone)
    }
}

extension Optional {
    func unwrap() throws -> Wrapped {
        guard let self else { throw CNIError(code: 999, msg: "nil") }
        return self
    }
}
