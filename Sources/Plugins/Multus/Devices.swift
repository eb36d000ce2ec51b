import CNI
import Kubernetes
import LinuxSystem

/// A device kubelet's device plugin gave the pod for a network (SR-IOV VFs and the like): the
/// NAD's resourceName and the device ID (a PCI address for SR-IOV).
public struct Device: Sendable, Equatable {
    public var resourceName: String
    public var id: String

    public init(resourceName: String, id: String) { (self.resourceName, self.id) = (resourceName, id) }
}

/// The pod's devices per resource, read once (the first NAD with a resourceName asks kubelet),
/// handed out in order: the i-th network naming a resource gets its i-th device ID. For a
/// teardown (`bestEffort`), kubelet failing means no devices (kept in `ignored` for the log): a
/// DEL must not depend on kubelet.
final class DeviceAllocation {
    private var devices: PodDevices?
    private var used: [String: Int] = [:]
    let bestEffort: Bool
    private(set) var ignored: CNIError?

    init(bestEffort: Bool = false) { self.bestEffort = bestEffort }

    func next(_ resource: String, read: () throws(CNIError) -> PodDevices) throws(CNIError) -> Device? {
        if devices == nil {
            do { devices = try read() } catch {
                guard bestEffort else { throw error }
                ignored = error
                devices = PodDevices()
            }
        }
        let ids = devices?.byResource[resource] ?? []
        let i = used[resource, default: 0]
        guard i < ids.count else { return nil }
        used[resource] = i + 1
        return Device(resourceName: resource, id: ids[i])
    }
}

/// The NPWG device-info files of a delegate with a device (upstream multus's handling): the
/// device plugin's file copied to the path handed to the delegate as `CNIDeviceInfoFile`
/// before its ADD, read back into network-status after, removed on DEL.
enum DeviceInfo {
    static let capability = "CNIDeviceInfoFile"

    /// The path a non-master delegate with a device ID gets as its `CNIDeviceInfoFile`.
    static func assign(_ delegates: inout [MultusDelegate], directory: String, containerID: String) {
        for i in delegates.indices where !delegates[i].isMaster {
            guard delegates[i].device != nil || delegates[i].capabilityArgs["deviceID"] != nil else { continue }
            delegates[i].capabilityArgs[capability] = .string(
                DeviceInfoFiles.forCNI(directory, network: delegates[i].name, containerID: containerID, ifName: delegates[i].ifName))
        }
    }

    static func file(_ d: MultusDelegate) -> String? { d.capabilityArgs[capability]?.stringValue }

    /// Before the delegate's ADD: the device plugin's file, if it wrote one, as the delegate's
    /// (read-only, as upstream). Errors are the caller's to log: a plugin may write it itself.
    static func copyFromDevicePlugin(_ d: MultusDelegate, directory: String) throws {
        guard let target = file(d), let device = d.device else { return }
        let source = DeviceInfoFiles.fromDevicePlugin(directory, resourceName: device.resourceName, deviceID: device.id)
        let bytes = try FileSystem.read(source, atMost: 1 << 20)
        guard (try? JSONValue.parse(bytes).objectValue) != nil else {
            throw CNIError(.decodingFailure, "device info \(source) is not a JSON object")
        }
        try FileSystem.makeDirectories(FileSystem.directoryName(target), mode: 0o755)
        try FileSystem.writeAtomically(target, bytes, mode: 0o444)
    }

    /// After the ADD: the delegate's device info (for network-status `device-info`), if any.
    static func read(_ d: MultusDelegate) -> JSONValue? {
        guard let path = file(d), let bytes = try? FileSystem.read(path, atMost: 1 << 20),
              let o = try? JSONValue.parse(bytes), o.objectValue != nil else { return nil }
        return o
    }

    /// On DEL (and an undone ADD): the delegate's file goes.
    static func remove(_ d: MultusDelegate) {
        guard let path = file(d) else { return }
        try? FileSystem.remove(path)
    }
}
