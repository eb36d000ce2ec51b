import CNI
import IPAddressing

/// host-device's configuration (plugins §2.4): the device by `device` (name), `hwaddr`,
/// `kernelpath`, then `runtimeConfig.deviceID` (PCI address or auxiliary device, replacing
/// `pciBusID`), then `pciBusID` — the first one set; `ipam`, `dns`; and ours, `dataDir`: where the
/// device's host state (up, MTU, addresses, routes) is kept from ADD to DEL.
public struct HostDeviceConfig: Sendable {
    public enum Selector: Sendable, Equatable {
        case name(String)
        case mac(MACAddress)
        case kernelPath(String)
        case pciBusID(String)
        case deviceID(String)
    }

    public var selector: Selector
    public var ipamType: String?
    public var dns: DNS
    /// Where the device's host state waits for DEL (ours; upstream keeps none).
    public var stateDirectory: String

    public init(_ conf: NetConf) throws(CNIError) {
        let r = JSONReader(.object(conf.raw), path: "")
        let rc = JSONReader(.object(conf.runtimeConfig), path: "runtimeConfig")
        let deviceID = try rc.string("deviceID").flatMap { $0.isEmpty ? nil : $0 }
        if let name = try r.string("device"), !name.isEmpty {
            try Names.validateInterfaceName(name, code: .invalidNetworkConfig, what: "device")
            selector = .name(name)
        } else if let text = try r.string("hwaddr"), !text.isEmpty {
            guard let mac = MACAddress(text) else { throw CNIError.invalidConfig("invalid hwaddr \"\(text)\"") }
            selector = .mac(mac)
        } else if let path = try r.string("kernelpath"), !path.isEmpty {
            guard path.hasPrefix("/sys/devices/"), !path.split(separator: "/").contains("..") else {
                throw CNIError.invalidConfig("kernelpath \"\(path)\" must be a path under /sys/devices/")
            }
            selector = .kernelPath(path)
        } else if let id = deviceID {
            // A device plugin's choice replaces pciBusID (PCI address or auxiliary device).
            selector = .deviceID(id)
        } else if let id = try r.string("pciBusID"), !id.isEmpty {
            selector = .pciBusID(id)
        } else {
            throw CNIError.invalidConfig("specify either \"device\", \"hwaddr\", \"kernelpath\" or \"pciBusID\"")
        }
        ipamType = conf.ipamType
        dns = conf.dns
        stateDirectory = try Self.stateDirectory(conf)
    }

    /// `dataDir` alone (DEL reads only this: a DEL whose device selector no longer parses still
    /// gives back what it can and releases IPAM).
    public static func stateDirectory(_ conf: NetConf) throws(CNIError) -> String {
        let dir = try JSONReader(.object(conf.raw), path: "").string("dataDir") ?? DeviceStateStore.defaultDirectory
        try Names.validateDataDirectory(dir, key: "dataDir")
        return dir
    }
}
