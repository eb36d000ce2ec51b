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
