import CNI
import LinuxSystem
import Netlink

/// Finds the host link a selector names, through netlink and sysfs (read in the plugin's own,
/// host, namespace).
enum DeviceLookup {
    /// Drivers that mean "DPDK owns this PCI device": it has no netdev to move.
    static let userspaceDrivers: Set<String> = ["vfio-pci", "uio_pci_generic", "igb_uio"]

    enum Found {
        case link(Link)
        /// A PCI device bound to a userspace driver: nothing to move.
        case userspace(pciAddress: String, driver: String)
    }

    static func find(_ selector: HostDeviceConfig.Selector, socket: NetlinkSocket) throws -> Found {
        func byName(_ name: String, _ what: String) throws -> Found {
            guard let link = try socket.link(named: name) else {
                throw CNIError(.invalidNetworkConfig, "failed to find host device \"\(name)\"", details: what)
            }
            return .link(link)
        }
        switch selector {
        case .name(let n):
            return try byName(n, "by name")
        case .mac(let mac):
            guard let link = try socket.link(mac: mac) else {
                throw CNIError(.invalidNetworkConfig, "failed to find host device with hwaddr \(mac)")
            }
            return .link(link)
        case .kernelPath(let path):
            return try byName(try netdev(underKernelPath: path), "kernelpath \(path)")
        case .pciBusID(let id):
            return try pci(id, socket: socket)
        case .deviceID(let id):
            if FileSystem.exists("/sys/bus/pci/devices/\(id)") { return try pci(id, socket: socket) }
            let aux = "/sys/bus/auxiliary/devices/\(id)/net"
            guard let name = firstEntry(aux) else {
                throw CNIError(.invalidNetworkConfig, "failed to find a network device for deviceID \"\(id)\"")
            }
            return try byName(name, "auxiliary device \(id)")
        }
    }

    /// The reference takes the first entry of `<path>/net`; a path that is itself a net device's
    /// directory (it has an `ifindex`, as /sys/devices/virtual/net/<name>) names that device.
    static func netdev(underKernelPath path: String) throws -> String {
        if let name = firstEntry(path + "/net") { return name }
        if FileSystem.exists(path + "/ifindex") { return FileSystem.baseName(path) }
        throw CNIError(.invalidNetworkConfig, "failed to find a network device under kernelpath \"\(path)\"")
    }

    static func pci(_ id: String, socket: NetlinkSocket) throws -> Found {
        let dev = "/sys/bus/pci/devices/\(id)"
        guard FileSystem.exists(dev) else { throw CNIError(.invalidNetworkConfig, "PCI device \(id) not found") }
        if let driver = (try? FileSystem.readLink(dev + "/driver")).map(FileSystem.baseName), userspaceDrivers.contains(driver) {
            return .userspace(pciAddress: id, driver: driver)
        }
        if let name = firstEntry(dev + "/net") { return .link(try linkNamed(name, socket)) }
        for entry in (try? FileSystem.list(dev))?.sorted() ?? [] where entry.hasPrefix("virtio") {
            if let name = firstEntry("\(dev)/\(entry)/net") { return .link(try linkNamed(name, socket)) }
        }
        throw CNIError(.invalidNetworkConfig, "no network device found for PCI device \(id)")
    }

    static func linkNamed(_ name: String, _ socket: NetlinkSocket) throws -> Link {
        guard let link = try socket.link(named: name) else {
            throw CNIError(.invalidNetworkConfig, "failed to find host device \"\(name)\"")
        }
        return link
    }

    static func firstEntry(_ dir: String) -> String? { (try? FileSystem.list(dir))?.sorted().first }

}
