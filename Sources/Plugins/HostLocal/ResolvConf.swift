import CNI
import LinuxSystem

/// Reads a resolv.conf into result DNS, as host-local's parseResolvConf: `nameserver`,
/// `domain`, `search`, `options`; comments (# or ;) and other lines ignored.
enum ResolvConf {
    static func parse(_ text: String) -> DNS {
        var dns = DNS()
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2 else { continue }
            switch fields[0] {
            case "nameserver": dns.nameservers.append(fields[1])
            case "domain": dns.domain = fields[1]
            case "search": dns.search += fields[1...]
            case "options": dns.options += fields[1...]
            default: break
            }
        }
        return dns
    }

    static func load(_ path: String) throws(CNIError) -> DNS {
        do { return parse(String(decoding: try FileSystem.read(path, atMost: 1 << 20), as: UTF8.self)) } catch {
            throw CNIError(.invalidNetworkConfig, "cannot read resolvConf", details: error.description)
        }
    }
}
