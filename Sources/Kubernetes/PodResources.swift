import CNI

/// The devices kubelet's device plugins gave a pod, per resource name (`intel.com/sriov_a` →
/// its device IDs, PCI addresses for SR-IOV, in allocation order): what multus reads for a
/// NetworkAttachmentDefinition annotated `k8s.v1.cni.cncf.io/resourceName`. Read from kubelet's
/// PodResources API (`v1.PodResourcesLister/List`, protobuf) or, when kubelet has no such
/// socket, from the device manager's checkpoint file, as upstream multus reads them.
public struct PodDevices: Sendable, Equatable {
    public var byResource: [String: [String]]

    public init(_ byResource: [String: [String]] = [:]) { self.byResource = byResource }

    /// The pod's devices in a `ListPodResourcesResponse` (every container's, in order).
    /// Fields this does not know are skipped, as protobuf readers do.
    public static func fromListResponse(_ bytes: [UInt8], namespace: String, name: String) throws(KubeError) -> PodDevices {
        var out = PodDevices()
        do {
            var response = ProtoReader(bytes)
            while let (field, value) = try response.next() {
                guard field == 1, case .bytes(let podBytes) = value else { continue }
                var pod = ProtoReader(podBytes)
                var podName = "", podNamespace = "", containers: [[UInt8]] = []
                while let (f, v) = try pod.next() {
                    switch (f, v) {
                    case (1, .bytes(let b)): podName = String(decoding: b, as: UTF8.self)
                    case (2, .bytes(let b)): podNamespace = String(decoding: b, as: UTF8.self)
                    case (3, .bytes(let b)): containers.append(b)
                    default: continue
                    }
                }
                guard podName == name, podNamespace == namespace else { continue }
                for c in containers {
                    var container = ProtoReader(c)
                    while let (f, v) = try container.next() {
                        guard f == 2, case .bytes(let deviceBytes) = v else { continue }
                        var device = ProtoReader(deviceBytes)
                        var resource = "", ids: [String] = []
                        while let (df, dv) = try device.next() {
                            switch (df, dv) {
                            case (1, .bytes(let b)): resource = String(decoding: b, as: UTF8.self)
                            case (2, .bytes(let b)): ids.append(String(decoding: b, as: UTF8.self))
                            default: continue
                            }
                        }
                        out.byResource[resource, default: []] += ids
                    }
                }
            }
        } catch {
            throw KubeError(.invalidResponse, "read kubelet's pod resources", error.description)
        }
        return out
    }

    /// The pod's devices in kubelet's device-manager checkpoint
    /// (`<kubelet root>/device-plugins/kubelet_internal_checkpoint`): entries of the pod's UID;
    /// `DeviceIDs` per NUMA node (kubelet ≥ 1.20, taken in node order) or a plain list (older).
    public static func fromCheckpoint(_ bytes: [UInt8], podUID: String) throws(KubeError) -> PodDevices {
        guard let json = try? JSONValue.parse(bytes), let data = json["Data"]?.objectValue else {
            throw KubeError(.invalidResponse, "read kubelet's device checkpoint", "not a checkpoint (no \"Data\" object)")
        }
        var out = PodDevices()
        for entry in data["PodDeviceEntries"]?.arrayValue ?? [] where entry["PodUID"]?.stringValue == podUID {
            let resource = entry["ResourceName"]?.stringValue ?? ""
            var ids: [String] = []
            if let list = entry["DeviceIDs"]?.arrayValue {
                ids = list.compactMap(\.stringValue)
            } else if let perNode = entry["DeviceIDs"]?.objectValue {
                for node in perNode.keys.sorted(by: { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }) {
                    ids += perNode[node]?.arrayValue?.compactMap(\.stringValue) ?? []
                }
            }
            out.byResource[resource, default: []] += ids
        }
        return out
    }
}

/// Where device information files live (the NPWG device-info spec): the device plugin's under
/// `<dir>/dp/`, the copy multus hands a delegate (and reads back for network-status) under
/// `<dir>/cni/`.
public enum DeviceInfoFiles {
    public static let defaultDirectory = "/var/run/k8s.cni.cncf.io/devinfo"

    /// `<dir>/dp/<resource>-<device>-device.json`, slashes made dashes.
    public static func fromDevicePlugin(_ dir: String, resourceName: String, deviceID: String) -> String {
        dir + "/dp/" + dashed(resourceName) + "-" + dashed(deviceID) + "-device.json"
    }

    /// `<dir>/cni/<network>-<containerID>_<ifname>`, slashes made dashes (upstream's name).
    public static func forCNI(_ dir: String, network: String, containerID: String, ifName: String) -> String {
        dir + "/cni/" + dashed("\(network)-\(containerID)_\(ifName)")
    }

    static func dashed(_ s: String) -> String { String(s.map { $0 == "/" ? "-" : $0 }) }
}

/// gRPC's message framing (a compressed flag, a 4-byte big-endian length, the message).
public enum GRPCFrame {
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        let n = UInt32(message.count)
        return [0, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + message
    }

    /// The one message of a unary response; nil while `bytes` holds less than a whole frame.
    public static func decode(_ bytes: [UInt8]) throws(KubeError) -> [UInt8]? {
        guard bytes.count >= 5 else { return nil }
        guard bytes[0] == 0 else { throw KubeError(.invalidResponse, "read a gRPC message", "compressed messages are not asked for") }
        let n = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        guard bytes.count >= 5 + n else { return nil }
        return Array(bytes[5..<(5 + n)])
    }
}

/// Protocol buffers' wire format, read field by field (no schema; unknown fields skipped by the
/// caller).
package struct ProtoReader {
    package enum Value { case varint(UInt64), fixed64(UInt64), bytes([UInt8]), fixed32(UInt32) }

    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    let bytes: [UInt8]
    var at = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next field (number and value); nil at the end.
    package mutating func next() throws(Malformed) -> (Int, Value)? {
        guard at < bytes.count else { return nil }
        let key = try varint()
        let field = Int(key >> 3)
        guard field > 0 else { throw Malformed(description: "field number 0 at byte \(at)") }
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1: return (field, .fixed64(try fixed(8)))
        case 2:
            let n = try varint()
            guard n <= UInt64(bytes.count - at) else { throw Malformed(description: "field \(field) runs past the end") }
            defer { at += Int(n) }
            return (field, .bytes(Array(bytes[at..<(at + Int(n))])))
        case 5: return (field, .fixed32(UInt32(truncatingIfNeeded: try fixed(4))))
        default: throw Malformed(description: "wire type \(key & 7) of field \(field)")
        }
    }

    mutating func varint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard at < bytes.count else { throw Malformed(description: "a varint runs past the end") }
            let b = bytes[at]
            at += 1
            guard shift < 64 else { throw Malformed(description: "a varint longer than 10 bytes") }
            value |= UInt64(b & 0x7F) << UInt64(shift)
            if b & 0x80 == 0 { return value }
        }
        throw Malformed(description: "a varint longer than 10 bytes")
    }

    mutating func fixed(_ n: Int) throws(Malformed) -> UInt64 {
        guard bytes.count - at >= n else { throw Malformed(description: "a fixed-width field runs past the end") }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[at + i]) << UInt64(8 * i) }
        at += n
        return v
    }
}
