import CNI
import IPAddressing
import InterfaceSetup
import NetNS
import Netlink
import PluginKit

/// host-device: moves a whole host link into the pod (through a temporary namespace, so udev and
/// NetworkManager never see it renamed in the host), named CNI_IFNAME, its host name kept in the
/// link alias; DEL moves it back under that name and gives it back the state it had on the host
/// (DeviceState: up, MTU, addresses, routes through it), saved by ADD in a small file.
public struct HostDevicePlugin: DelegatesIPAM {
    public let about = "swift-cni host-device: move a host network device into the pod"
    public let delegate: Delegate

    public init(delegate: Delegate = Delegate()) { self.delegate = delegate }

    public func add(_ r: PluginRequest) throws -> CNIResult {
        let conf = try HostDeviceConfig(r.config)
        let pod = try PodAttachment(r)
        let hostSocket = try step("open a netlink socket") { try NetlinkSocket() }
        let link: Link
        switch try DeviceLookup.find(conf.selector, socket: hostSocket) {
        case .userspace:
            // DPDK: the device stays where it is; the IPAM result is handed back unapplied.
            guard let ipam = conf.ipamType else { return CNIResult(dns: conf.dns) }
            var result = try delegate.add(ipam, r)
            if !conf.dns.isEmpty { result.dns = conf.dns }
            return result
        case .link(let l):
            link = l
        }
        try pod.requireFreeName()
        let store = DeviceStateStore(directory: conf.stateDirectory)
        let state = try step("read the state of \(link.name)") { try DeviceState.capture(link, socket: hostSocket) }
        return try Rollback.run { rollback in
            try store.save(state, containerID: r.containerID, ifName: r.ifName)
            rollback.onFailure("forget the saved state of \(link.name)") { store.remove(containerID: r.containerID, ifName: r.ifName) }
            let inPod = try moveIn(link, to: pod, state: state, hostSocket: hostSocket, rollback: rollback)
            try pod.setUp(inPod)
            // As the reference: the config's dns, never IPAM's.
            var result = pod.result(for: inPod, dns: conf.dns)
            if let ipam = conf.ipamType {
                try pod.addIPAM(ipam, to: &result, delegate: delegate, rollback: rollback)
                try pod.configure(inPod, result)
            }
            return result
        }
    }

    /// Host → a temporary namespace, renamed there to CNI_IFNAME with its host name as alias (our
    /// mark: DEL gives back only a link that carries one), → the pod. Each step's undo registered.
    func moveIn(_ link: Link, to pod: PodAttachment, state: DeviceState, hostSocket: NetlinkSocket, rollback: Rollback) throws -> Link {
        let ifName = pod.ifName
        let host = try NetworkNamespace.current()
        let temp = try NetworkNamespace.temporary()
        let tempSocket = try temp.run { try NetlinkSocket() }
        try step("move \(link.name) to a temporary namespace") {
            try hostSocket.setLink(index: link.index, .init(namespaceFD: temp.fd))
        }
        rollback.onFailure("return \(link.name) to the host as it was") {
            if let l = try tempSocket.link(named: link.name) ?? tempSocket.link(named: ifName) {
                try tempSocket.setLink(index: l.index, .init(name: link.name, up: false))
                try tempSocket.setLink(index: l.index, .init(namespaceFD: host.fd))
                // A move takes a link down and its addresses and routes away: all back as it was.
                if let back = try hostSocket.link(named: link.name) { try state.restore(on: back, socket: hostSocket) }
            }
        }
        guard let moved = try tempSocket.link(named: link.name) else {
            throw CNIError(.systemFailure, "\(link.name) vanished after its move")
        }
        try step("rename \(link.name) to \(ifName)") {
            try tempSocket.setLink(index: moved.index, .init(name: ifName, alias: link.name, up: false))
        }
        try step("move \(ifName) into \(pod.request.netns)") {
            try tempSocket.setLink(index: moved.index, .init(namespaceFD: pod.namespace.fd))
        }
        rollback.onFailure("take \(ifName) out of the pod") {
            if let l = try pod.socket.link(named: ifName) { try pod.socket.setLink(index: l.index, .init(up: false, namespaceFD: temp.fd)) }
        }
        guard let inPod = try pod.socket.link(named: ifName) else {
            throw CNIError(.systemFailure, "\(ifName) not found in \(pod.request.netns) after its move")
        }
        return inPod
    }

    /// Moves the device back to the host under its original name and gives it back its saved
    /// state (up, MTU, addresses, routes), then releases IPAM. When the pod namespace or the
    /// device in it is already gone, only IPAM is released (the reference leaks the reservation
    /// then: cni#1167) and the saved state is dropped. A link without our mark (the alias ADD set)
    /// was never ours — e.g. the pod's own eth0 — and stays where it is. The one ordered DEL:
    /// when the host name is taken the DEL fails and the device stays in the pod, reservation
    /// kept, so that a later DEL (or the namespace's end, which returns the device) can finish.
    /// A state that cannot be put back fails the DEL too (IPAM still released) and stays saved,
    /// so a retried DEL puts it back.
    public func del(_ r: PluginRequest) throws {
        // The namespace gone (or a leftover file where it was), and with it our claim on the
        // device: release IPAM only.
        if !r.netns.isEmpty, let pod = try NetworkNamespace.ifPresent(path: r.netns) { try moveOut(r, pod: pod) }
        var steps = BestEffort()
        steps.run { try restoreSavedState(r) }
        if let ipam = r.config.ipamType { steps.run { try delegate.del(ipam, r) } }
        try steps.finish()
    }

    /// The state ADD saved, put back on the device if it is on the host under its name; dropped
    /// when the device is not (gone with a virtual device's namespace, or never moved).
    func restoreSavedState(_ r: PluginRequest) throws {
        let store = DeviceStateStore(directory: try HostDeviceConfig.stateDirectory(r.config))
        guard let state = try store.load(containerID: r.containerID, ifName: r.ifName) else { return }
        let hostSocket = try step("open a netlink socket") { try NetlinkSocket() }
        if let link = try hostSocket.link(named: state.hostName), state.isDevice(link) {
            try state.restore(on: link, socket: hostSocket)
        }
        store.remove(containerID: r.containerID, ifName: r.ifName)
    }

    func moveOut(_ r: PluginRequest, pod: NetworkNamespace) throws {
        let podSocket = try step("open a netlink socket in \(r.netns)") { try pod.run { try NetlinkSocket() } }
        guard let link = try podSocket.link(named: r.ifName), !link.alias.isEmpty else { return }
        let hostName = link.alias
        let host = try NetworkNamespace.current()
        let hostSocket = try NetlinkSocket()
        if try hostSocket.link(named: hostName) != nil {
            throw CNIError(.invalidNetworkConfig, "failed to move \(r.ifName) back to the host: the name \"\(hostName)\" is taken",
                           details: "the device stays in the pod; DEL again once the name is free")
        }
        try Rollback.run { rollback in
            let temp = try NetworkNamespace.temporary()
            let tempSocket = try temp.run { try NetlinkSocket() }
            try step("move \(r.ifName) to a temporary namespace") {
                try podSocket.setLink(index: link.index, .init(up: false, namespaceFD: temp.fd))
            }
            rollback.onFailure("return \(r.ifName) to the pod as it was") {
                if let l = try tempSocket.link(named: r.ifName) ?? tempSocket.link(named: hostName) {
                    try tempSocket.setLink(index: l.index, .init(name: r.ifName, alias: hostName))
                    try tempSocket.setLink(index: l.index, .init(namespaceFD: pod.fd))
                    if link.isUp { try podSocket.setLink(index: l.index, .init(up: true)) }
                }
            }
            guard let moved = try tempSocket.link(named: r.ifName) else { throw CNIError(.systemFailure, "\(r.ifName) vanished") }
            try step("rename \(r.ifName) to \(hostName)") {
                try tempSocket.setLink(index: moved.index, .init(name: hostName, alias: ""))
            }
            try step("move \(hostName) to the host") {
                try tempSocket.setLink(index: moved.index, .init(namespaceFD: host.fd))
            }
        }
    }

    /// The device is in the pod with the result's name and MAC; its addresses and routes are there.
    public func check(_ r: PluginRequest) throws {
        let conf = try HostDeviceConfig(r.config)
        if let ipam = conf.ipamType { try delegate.check(ipam, r) }
        let c = try PodLinkCheck(r)
        try c.checkMAC()
        try c.checkAddressesAndRoutes()
    }

}
