import CNI
import Foundation
import LinuxSystem

/// kubelet's PodResources API for one test (Integration/KubeAPI/pod-resources-server.py, grpcio):
/// a kubelet root directory of its own whose `pod-resources/kubelet.sock` serves List from the
/// pods the test sets; stopped (by its PID) and its files removed when the fixture goes away.
public final class PodResourcesServer: @unchecked Sendable {
    public let root: TemporaryDirectory
    private let process: BackgroundProcess

    public var kubeletRoot: String { root.path }
    public var socket: String { root.file("pod-resources/kubelet.sock") }

    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Integration/KubeAPI/pod-resources-server.py").path
    }

    /// One device list of a pod: resource name → device IDs (all in one container).
    public init(pods: [(namespace: String, name: String, devices: [(String, [String])])] = []) throws {
        root = try TemporaryDirectory("swcni-kubelet")
        try FileManager.default.createDirectory(atPath: root.file("pod-resources"), withIntermediateDirectories: true)
        try Self.write(pods, in: root)
        let (p, line) = try ServerProcess.start("/usr/bin/python3", [Self.script, "--socket", root.file("pod-resources/kubelet.sock"),
                                                                     "--pods", root.file("pods.json")], directory: root.path)
        process = p
        guard line == "listening" else {
            stop()
            throw CommandFailed(argv: [Self.script], status: -1, output: "did not start: \(line) \(ServerProcess.stderr(in: root.path))")
        }
    }

    deinit {
        stop()
        root.remove()
    }

    public func stop() { ServerProcess.stop(process) }

    /// What List answers from now on.
    public func setPods(_ pods: [(namespace: String, name: String, devices: [(String, [String])])]) throws {
        try Self.write(pods, in: root)
    }

    static func write(_ pods: [(namespace: String, name: String, devices: [(String, [String])])], in root: TemporaryDirectory) throws {
        let list: [JSONValue] = pods.map { p in
            ["namespace": .string(p.namespace), "name": .string(p.name),
             "containers": [["name": "c", "devices": .array(p.devices.map { r, ids in
                 ["resourceName": .string(r), "deviceIDs": .array(ids.map { .string($0) }), "numa": [0]] }), "cpuIDs": [1]]]]
        }
        try root.write("pods.json", JSONValue.array(list).serializedString())
    }

    /// Every call from now on fails with this gRPC status (UNAVAILABLE, PERMISSION_DENIED…).
    public func failWith(_ status: String) throws {
        try root.write("pods.json", #"{"fail":"\#(status)","message":"test says no"}"#)
    }
}
