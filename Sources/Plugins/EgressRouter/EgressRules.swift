import Firewall
import IPAddressing

/// The pod's NAT rules as one nftables transaction (the plugin's decision, tested without root):
/// per family a table `egress_cni` with a `postrouting` chain that SNATs what leaves through the
/// egress interface to the reserved address, and a `prerouting` chain that DNATs what arrives on
/// the *other* interfaces (upstream hard-codes eth0) — port rules in order, the fallback last.
enum EgressRules {
    static let table = "egress_cni"

    static func family(_ f: IPAddress.Family) -> String { f == .v4 ? "ip" : "ip6" }

    static func script(ifName: String, addresses: [IPPrefix], destinations: [EgressDestination]) -> String {
        let iface = quoted(ifName)
        var out = ""
        for a in addresses {
            let fam = family(a.family), t = "\(fam) \(table)"
            out += "add table \(t)\nflush table \(t)\n"
            out += "add chain \(t) prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
            out += "add chain \(t) postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
            out += "add rule \(t) postrouting oifname \(iface) snat to \(a.address)\n"
            let mine = destinations.filter { $0.address.family == a.family }
            for d in mine.filter({ !$0.isFallback }) + mine.filter(\.isFallback) {
                let match = d.proto.map { "\($0.rawValue) dport \(d.port ?? 0) " } ?? ""
                out += "add rule \(t) prerouting iifname != \(iface) \(match)dnat to \(target(d))\n"
            }
        }
        return out
    }

    /// Removes the tables of both families (adding first, so a missing one is no error).
    static func teardownScript() -> String {
        "add table ip \(table)\ndelete table ip \(table)\nadd table ip6 \(table)\ndelete table ip6 \(table)\n"
    }

    /// `addr`, `first-last` for a CIDR, with `:port` (v6 in brackets) when a target port is set.
    static func target(_ d: EgressDestination) -> String {
        let p = d.address
        let v6 = p.family == .v6
        func fmt(_ a: IPAddress) -> String { v6 && d.port != nil ? "[\(a)]" : "\(a)" }
        var addr = fmt(p.address)
        if p.length < (v6 ? 128 : 32) { addr = "\(fmt(p.network))-\(fmt(p.last))" }
        guard let port = d.targetPort ?? d.port else { return addr }
        return "\(addr):\(port)"
    }
}
