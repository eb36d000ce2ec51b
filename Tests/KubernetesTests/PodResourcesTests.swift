import CNI
@testable import Kubernetes
import KubernetesClient
import TestSupport
import Testing

@Suite struct PodResourcesTests {
    /// A `ListPodResourcesResponse` as python3-protobuf serialises it from
    /// Integration/KubeAPI/podresources.proto: pod ns1/other (one device), pod ns1/web with two
    /// containers (sriov_a ×3 over both, rdma ×1; cpu_ids, memory and NUMA topology to skip).
    static let listResponse = hex("""
        0a340a056f7468657212036e73311a260a016312210a11696e74656c2e636f6d2f7372696f765f61120c303030303a30333a30302e390aaa01\
        0a0377656212036e73311a500a0361707012350a11696e74656c2e636f6d2f7372696f765f61120c303030303a30333a30302e32120c303030\
        303a30333a30302e331a040a0208011a020203220e0a066d656d6f72791080808080041a4c0a047369646512210a11696e74656c2e636f6d2f\
        7372696f765f61120c303030303a30333a30302e3412210a116d656c6c616e6f782e636f6d2f72646d61120c303030303a38313a30302e31
        """)

    static func hex(_ s: String) -> [UInt8] {
        let digits = Array(s.utf8).filter { $0 != 0x0A && $0 != 0x20 }
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    @Test func theListResponseGivesThePodsDevicesInContainerOrder() throws {
        #expect(Self.listResponse.count == 227)
        let web = try PodDevices.fromListResponse(Self.listResponse, namespace: "ns1", name: "web")
        #expect(web.byResource == ["intel.com/sriov_a": ["0000:03:00.2", "0000:03:00.3", "0000:03:00.4"],
                                   "mellanox.com/rdma": ["0000:81:00.1"]])
        #expect(try PodDevices.fromListResponse(Self.listResponse, namespace: "ns1", name: "other").byResource
                == ["intel.com/sriov_a": ["0000:03:00.9"]])
        #expect(try PodDevices.fromListResponse(Self.listResponse, namespace: "ns2", name: "web").byResource.isEmpty)
        #expect(try PodDevices.fromListResponse([], namespace: "ns1", name: "web").byResource.isEmpty)
    }

    @Test func aTruncatedOrMalformedMessageIsAnError() {
        for cut in [1, 2, 50, 226] {
            #expect(throws: KubeError.self) { try PodDevices.fromListResponse(Array(Self.listResponse.prefix(cut)), namespace: "ns1", name: "web") }
        }
        // Wire type 3 (a group), a field number 0, a varint of 11 bytes.
        for bad: [UInt8] in [[0x0B], [0x00, 0x01], [0x08] + Array(repeating: 0xFF, count: 10) + [0x01]] {
            #expect(throws: KubeError.self) { try PodDevices.fromListResponse(bad, namespace: "ns1", name: "web") }
        }
    }

    @Test func theCheckpointInEitherLayout() throws {
        let perNUMANode = #"""
            {"Data":{"PodDeviceEntries":[
              {"PodUID":"u1","ContainerName":"app","ResourceName":"intel.com/sriov_a","DeviceIDs":{"1":["0000:03:00.3"],"0":["0000:03:00.2"]},"AllocResp":"CiIK"},
              {"PodUID":"u2","ContainerName":"app","ResourceName":"intel.com/sriov_a","DeviceIDs":{"0":["0000:03:00.7"]},"AllocResp":""},
              {"PodUID":"u1","ContainerName":"side","ResourceName":"intel.com/sriov_a","DeviceIDs":{"0":["0000:03:00.4"]},"AllocResp":""}],
             "RegisteredDevices":{"intel.com/sriov_a":["0000:03:00.2","0000:03:00.3","0000:03:00.4","0000:03:00.7"]}},"Checksum":1}
            """#
        #expect(try PodDevices.fromCheckpoint(Array(perNUMANode.utf8), podUID: "u1").byResource
                == ["intel.com/sriov_a": ["0000:03:00.2", "0000:03:00.3", "0000:03:00.4"]])
        let list = #"{"Data":{"PodDeviceEntries":[{"PodUID":"u1","ResourceName":"r/x","DeviceIDs":["a","b"]}]},"Checksum":1}"#
        #expect(try PodDevices.fromCheckpoint(Array(list.utf8), podUID: "u1").byResource == ["r/x": ["a", "b"]])
        #expect(try PodDevices.fromCheckpoint(Array(list.utf8), podUID: "u9").byResource.isEmpty)
        #expect(throws: KubeError.self) { try PodDevices.fromCheckpoint(Array("[]".utf8), podUID: "u1") }
    }

    /// ProtoWriter's bytes as protobuf has them: varints of every width, defaults left out
    /// unless asked for (a oneof member), nested messages, and ProtoReader reads them back.
    @Test func protoWriterWritesWhatTheReaderReads() throws {
        var w = ProtoWriter()
        w.field(1, 0)                       // left out
        w.field(2, 300)                     // 0x10 0xac 0x02
        w.field(4, 0, always: true)         // 0x20 0x00
        w.field(6, UInt64(bitPattern: -1))  // ten bytes
        w.field(3, "k")
        w.field(7, bytes: [], always: true)
        w.message(9) { $0.field(1, 1) }
        #expect(w.bytes == [0x10, 0xac, 0x02, 0x20, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                            0x1a, 0x01, 0x6b, 0x3a, 0x00, 0x4a, 0x02, 0x08, 0x01])
        var r = ProtoReader(w.bytes)
        var fields: [Int] = []
        while let (n, v) = try r.next() {
            fields.append(n)
            if n == 6, case .varint(let x) = v { #expect(Int64(bitPattern: x) == -1) }
        }
        #expect(fields == [2, 4, 6, 3, 7, 9])
    }

    @Test func grpcFramesAndDeviceInfoPaths() throws {
        let framed = GRPCFrame.encode([1, 2, 3])
        #expect(framed == [0, 0, 0, 0, 3, 1, 2, 3])
        #expect(try GRPCFrame.decode(framed) == [1, 2, 3])
        #expect(try GRPCFrame.decode(Array(framed.prefix(6))) == nil)
        #expect(try GRPCFrame.decode(GRPCFrame.encode([])) == [])
        #expect(throws: KubeError.self) { try GRPCFrame.decode([1, 0, 0, 0, 0]) }
        #expect(DeviceInfoFiles.fromDevicePlugin("/d", resourceName: "intel.com/sriov_a", deviceID: "0000:03:00.2")
                == "/d/dp/intel.com-sriov_a-0000:03:00.2-device.json")
        #expect(DeviceInfoFiles.forCNI("/d", network: "ns1/sriov-a", containerID: "abc", ifName: "net1") == "/d/cni/ns1-sriov-a-abc_net1")
    }
}

/// The client against kubelet's API as grpcio serves it (Integration/KubeAPI/pod-resources-server.py),
/// and the checkpoint when there is no socket.
@Suite(.serialized) struct KubeletPodResourcesTests {
    let web = Pod(namespace: "ns1", name: "web", uid: "u1")

    @Test func theListCallOverTheSocket() throws {
        let kubelet = try PodResourcesServer(pods: [
            ("ns1", "other", [("intel.com/sriov_a", ["0000:03:00.9"])]),
            ("ns1", "web", [("intel.com/sriov_a", ["0000:03:00.2", "0000:03:00.3"]), ("mellanox.com/rdma", ["0000:81:00.1"])]),
        ])
        let d = try KubeletPodResources.devices(of: web, kubeletRoot: kubelet.kubeletRoot)
        #expect(d.byResource == ["intel.com/sriov_a": ["0000:03:00.2", "0000:03:00.3"], "mellanox.com/rdma": ["0000:81:00.1"]])
        // A pod kubelet gave nothing.
        #expect(try KubeletPodResources.devices(of: Pod(namespace: "ns2", name: "web"), kubeletRoot: kubelet.kubeletRoot).byResource.isEmpty)
        // Many pods: a response over one HTTP/2 frame (16 KiB) and over the 64 KiB window.
        let many = (0..<2000).map { i in (namespace: "ns1", name: "p\(i)", devices: [("intel.com/sriov_a", ["0000:03:\(i):0"])]) }
        try kubelet.setPods(many + [("ns1", "web", [("intel.com/sriov_a", ["0000:03:00.5"])])])
        #expect(try KubeletPodResources.devices(of: web, kubeletRoot: kubelet.kubeletRoot).byResource == ["intel.com/sriov_a": ["0000:03:00.5"]])
        // A gRPC error status is an error, naming it.
        try kubelet.failWith("PERMISSION_DENIED")
        let denied = #expect(throws: CNIError.self) { try KubeletPodResources.devices(of: web, kubeletRoot: kubelet.kubeletRoot) }
        #expect(denied?.code == 120 && denied?.details.contains("gRPC status 7") == true, "\(String(describing: denied))")
        // UNAVAILABLE is worth another try.
        try kubelet.failWith("UNAVAILABLE")
        #expect((#expect(throws: CNIError.self) { try KubeletPodResources.devices(of: web, kubeletRoot: kubelet.kubeletRoot) })?.code == 11)
        // kubelet gone, its socket left: no answer (11, try again later).
        kubelet.stop()
        let gone = #expect(throws: CNIError.self) { try KubeletPodResources.devices(of: web, kubeletRoot: kubelet.kubeletRoot, timeoutSeconds: 2) }
        #expect(gone?.code == 11, "\(String(describing: gone))")
    }

    @Test func theCheckpointWhenThereIsNoSocket() throws {
        let root = try TemporaryDirectory("swcni-kubelet-cp")
        defer { root.remove() }
        // Neither: no answer.
        #expect((#expect(throws: CNIError.self) { try KubeletPodResources.devices(of: web, kubeletRoot: root.path) })?.code == 11)
        try root.write("device-plugins/kubelet_internal_checkpoint", #"""
            {"Data":{"PodDeviceEntries":[{"PodUID":"u1","ContainerName":"c","ResourceName":"intel.com/sriov_a","DeviceIDs":{"0":["0000:03:00.2"]},"AllocResp":""}],
             "RegisteredDevices":{}},"Checksum":0}
            """#)
        #expect(try KubeletPodResources.devices(of: web, kubeletRoot: root.path).byResource == ["intel.com/sriov_a": ["0000:03:00.2"]])
    }
}
