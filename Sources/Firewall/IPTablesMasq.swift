import Basics
import CNI
import Glibc
import IPAddressing
import LinuxSystem

/// The `iptables` / `ip6tables` command of one family (go-iptables, which the reference uses,
/// execs them too), with `-w`: wait for the xtables lock instead of failing.
public struct IPTables: Sendable {
    public let binary: String

    /// The family's command from the usual places, nil when it is not installed.
    public static func locate(_ family: IPAddress.Family) -> IPTables? {
        let name = family == .v4 ? "iptables" : "ip6tables"
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"] where FileSystem.isExecutableFile(dir + "/" + name) {
            return IPTables(binary: dir + "/" + name)
        }
        return nil
    }

    /// Runs `<binary> -w -t nat ARGS`.
    @discardableResult
    public func nat(_ args: [String]) throws(FirewallError) -> Subprocess.Output {
        do {
            return try Subprocess.run(binary, arguments: ["-w", "-t", "nat"] + args,
                                      environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], captureStderr: true)
        } catch {
            throw FirewallError("failed to run \(binary)", details: error.description)
        }
    }

    /// Runs and requires success.
    public func must(_ args: [String]) throws(FirewallError) {
        let out = try nat(args)
        guard out.succeeded else {
            throw FirewallError("\(binary) -t nat \(args.joined(separator: " ")) failed",
                           details: String(decoding: out.stderr, as: UTF8.self).trimmingWhitespace)
        }
    }

    public func chainExists(_ chain: String) throws(FirewallError) -> Bool { try nat(["-S", chain]).succeeded }

    /// `-A` unless the same rule is there already (`-C`), as go-iptables' AppendUnique.
    public func appendUnique(_ chain: String, _ spec: [String]) throws(FirewallError) {
        if try nat(["-C", chain] + spec).succeeded { return }
        try must(["-A", chain] + spec)
    }

    /// The rules of a chain (nil: of the whole nat table) as `-S` prints them.
    public func rules(_ chain: String? = nil) throws(FirewallError) -> [String] {
        let out = try nat(["-S"] + (chain.map { [$0] } ?? []))
        guard out.succeeded else { return [] }
        return String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// Masquerading in the reference's iptables layout (pkg/ip/ipmasq_iptables_linux.go): per
/// attachment a nat chain `CNI-<hash of network+containerID>` that accepts the pod's own subnet and
/// masquerades the rest (multicast aside), and a POSTROUTING jump to it from each pod address, all
/// commented `name: "<network>" id: "<containerID>"`. Like the reference it ignores the interface.
public enum IPTablesMasq {
    public static func chain(network: String, containerID: String) -> String {
        String(("CNI-" + SHA512.hex(network + containerID)).prefix(28))
    }

    public static func comment(network: String, containerID: String) -> String {
        "name: \(goQuoted(network)) id: \(goQuoted(containerID))"
    }

    static func multicast(_ family: IPAddress.Family) -> String { family == .v4 ? "224.0.0.0/4" : "ff00::/8" }

    public static func setup(_ addresses: [IPPrefix], network: String, containerID: String) throws(FirewallError) {
        let chain = chain(network: network, containerID: containerID)
        let c = ["-m", "comment", "--comment", comment(network: network, containerID: containerID)]
        for a in addresses {
            guard let ipt = IPTables.locate(a.family) else {
                throw FirewallError("ipMasqBackend \"iptables\" needs \(a.family == .v4 ? "iptables" : "ip6tables"), which was not found",
                               details: "install the iptables package, or use the nftables backend")
            }
            if !(try ipt.chainExists(chain)) { try ipt.must(["-N", chain]) }
            try ipt.appendUnique(chain, ["-d", a.description, "-j", "ACCEPT"] + c)
            try ipt.appendUnique(chain, ["!", "-d", multicast(a.family), "-j", "MASQUERADE"] + c)
            try ipt.appendUnique("POSTROUTING", ["-s", a.address.description, "-j", chain] + c)
        }
    }

    /// Removes the attachment's jumps and chain in both families; nothing to do when they (or the
    /// commands) are not there. Needs no addresses: the jumps are found by their target, so this
    /// also works after the pod's namespace is gone (where the reference leaves them).
    /// `nf`: a socket of the caller's to ask nf_tables with (see `mayHold`).
    public static func teardown(network: String, containerID: String, nf: NFTables? = nil) throws(FirewallError) {
        let chain = chain(network: network, containerID: containerID)
        let c = ["-m", "comment", "--comment", comment(network: network, containerID: containerID)]
        for family in [IPAddress.Family.v4, .v6] {
            guard let ipt = IPTables.locate(family), mayHold(chain, family, nf: nf) else { continue }
            // One listing of the nat table: the jumps to the chain and whether it exists.
            let table = try ipt.rules()
            for source in jumpSources(table, to: chain) {
                try ipt.must(["-D", "POSTROUTING", "-s", source, "-j", chain] + c)
            }
            if table.contains("-N " + chain) {
                try ipt.must(["-F", chain])
                try ipt.must(["-X", chain])
            }
        }
    }

    /// Whether the family's nat table may hold the chain, asked without running iptables (two
    /// processes per DEL otherwise, nearly always for nothing): where iptables is iptables-nft its
    /// chains are nf_tables' (`ip nat`, `ip6 nat`), so one netlink request tells — and a jump to
    /// the chain cannot outlive it —; the legacy tables exist in a namespace only once something
    /// used them (`/proc/net/ip_tables_names` lists `nat`), and then iptables must look. When in
    /// doubt: true. `nf`: the caller's socket, if it has one — closing a NETLINK_NETFILTER socket
    /// waits for the kernel to free what any earlier transaction deleted (see Bridge's DEL).
    public static func mayHold(_ chain: String, _ family: IPAddress.Family, nf: NFTables? = nil) -> Bool {
        let names = family == .v4 ? "/proc/net/ip_tables_names" : "/proc/net/ip6_tables_names"
        do {
            let legacy = try FileSystem.read(names, atMost: 4096)
            if String(decoding: legacy, as: UTF8.self).split(separator: "\n").contains("nat") { return true }
        } catch {
            if error.errno != ENOENT { return true }   // no such file: the legacy tables are not loaded
        }
        guard let nf = nf ?? (try? NFTables.open()),
              let exists = try? nf.chainExists(family == .v4 ? .ip : .ip6, table: "nat", chain: chain) else { return true }
        return exists
    }

    /// Tears down the network's attachments that are not in `valid` (the reference's iptables
    /// backend has no GC): their jumps are found by the network's name in the comment.
    public static func gc(network: String, valid: [Attachment]) throws(FirewallError) {
        let keep = Set(valid.map { chain(network: network, containerID: $0.containerID) })
        let marker = "--comment " + shellQuoted("name: \(goQuoted(network)) id: ")
        for family in [IPAddress.Family.v4, .v6] {
            guard let ipt = IPTables.locate(family) else { continue }
            for line in try ipt.rules("POSTROUTING") {
                guard let target = jumpTarget(line), target.hasPrefix("CNI-"), !keep.contains(target),
                      let idStart = line.firstRange(ofText: marker.dropLast())?.upperBound,
                      let id = goUnquoted(shellUnescaped(String(line[idStart...]))) else { continue }
                guard chain(network: network, containerID: id) == target else { continue }
                try teardown(network: network, containerID: id)
            }
        }
    }

    /// The `-s` of each `-A POSTROUTING … -j <chain>` line.
    static func jumpSources(_ lines: [String], to chain: String) -> [String] {
        lines.compactMap { line in
            guard line.hasPrefix("-A POSTROUTING "), jumpTarget(line) == chain else { return nil }
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(of: "-s"), i + 1 < words.count else { return nil }
            return String(words[i + 1])
        }
    }

    static func jumpTarget(_ line: String) -> String? {
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(of: "-j"), i + 1 < words.count else { return nil }
        return String(words[i + 1])
    }
}

/// Go's `%q` for the strings CNI names and IDs hold: quotes and backslashes escaped, control
/// characters as escapes.
func goQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 || u.value == 0x7f {
                let h = String(u.value, radix: 16)
                out += "\\x" + (h.count == 1 ? "0" + h : h)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// The ID out of `"<id>"` (a %q string) at the start of `s`, up to its closing quote.
func goUnquoted(_ s: String) -> String? {
    var out = "", escaped = false
    for ch in s.dropFirst() {
        if escaped { out.append(ch == "n" ? "\n" : ch == "t" ? "\t" : ch == "r" ? "\r" : ch); escaped = false; continue }
        if ch == "\\" { escaped = true; continue }
        if ch == "\"" { return out }
        out.append(ch)
    }
    return nil
}

/// How `iptables -S` prints a comment: in double quotes, with `"` and `\` escaped.
func shellQuoted(_ s: String) -> String {
    "\"" + s.replacingText("\\", with: "\\\\").replacingText("\"", with: "\\\"") + "\""
}

/// Undoes one level of `iptables -S` escaping (a backslash keeps the next character).
func shellUnescaped(_ s: String) -> String {
    var out = "", escaped = false
    for ch in s {
        if escaped { out.append(ch); escaped = false } else if ch == "\\" { escaped = true } else { out.append(ch) }
    }
    return out
}
