import CNI
import NetNS
import Netlink
import PluginKit

/// Steps every "virtual link in the pod" plugin (macvlan, ipvlan, …) shares.
public enum PodLink {
    /// Creates a link under a temporary name (`create(tempName)`, which makes it directly in the
    /// pod namespace or from inside it), registers its deletion, and renames it to `ifName` inside
    /// the pod, so it never collides with a host link of that name.
    public static func create(named ifName: String, podSocket: NetlinkSocket, rollback: Rollback,
                              _ create: (String) throws -> Void) throws -> Link {
        if try podSocket.link(named: ifName) != nil {
            throw CNIError(.invalidNetworkConfig, "container veth name provided (\(ifName)) already exists")
        }
        let hex = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temp = "veth" + String(repeating: "0", count: 8 - hex.count) + hex
        try create(temp)
        rollback.onFailure("delete the new link") {
            if let l = try podSocket.link(named: temp) ?? podSocket.link(named: ifName) { try? podSocket.deleteLink(index: l.index) }
        }
        guard let created = try podSocket.link(named: temp) else {
            throw CNIError(.systemFailure, "link \(temp) vanished after creation")
        }
        do { try podSocket.setLink(index: created.index, .init(name: ifName)) } catch {
            throw CNIError(.systemFailure, "failed to rename the new link to \"\(ifName)\"", details: "\(error)")
        }
        guard let link = try podSocket.link(index: created.index) else {
            throw CNIError(.systemFailure, "link \(ifName) vanished")
        }
        return link
    }

    /// The IPAM delegate's addresses for the attachment's single interface (index 0), its DEL
    /// registered first so that even a delegate printing garbage after reserving is released.
    public static func ipam(_ type: String, _ r: PluginRequest, delegate: Delegate, rollback: Rollback) throws -> CNIResult {
        rollback.onFailure("IPAM DEL") { try? delegate.del(type, r) }
        var result = try delegate.add(type, r)
        guard !result.ips.isEmpty else { throw CNIError(.delegateFailure, "IPAM plugin returned missing IP config") }
        result.ips = result.ips.map { var ip = $0; ip.interface = 0; return ip }
        return result
    }

    /// Announces the address when the link comes up (gratuitous ARP / unsolicited NA), as the
    /// reference does instead of sending them itself.
    public static func enableNotify(_ ifName: String, in pod: NetworkNamespace) throws {
        try pod.run {
            try Sysctl.set("net/ipv4/conf/\(ifName)/arp_notify", "1")
            if (try? Sysctl.get("net/ipv6/conf/\(ifName)/ndisc_notify")) != nil {
                try Sysctl.set("net/ipv6/conf/\(ifName)/ndisc_notify", "1")
            }
        }
    }
}
