import DHCPIPAM
import Logging

extension DHCPDaemon {
    /// What `dhcp daemon [flags]` asks for: the reference's flags (-socketpath, -pidfile,
    /// -hostprefix, -broadcast, -timeout, -resendmax, -resendtimeout) as Go's flag package reads
    /// them, then ours (-statedir, -watchinterval, -loglevel, -version).
    public enum Invocation: Sendable {
        case run(Options, logLevel: Logger.Level)
        case help(String)
        case version
    }

    public static let flags = GoFlags(command: "dhcp daemon", [
        .init("socketpath", "the unix socket the plugin connects to", default: DHCPConfig.defaultSocketPath),
        .init("pidfile", "write the daemon's PID here"),
        .init("hostprefix", "prefix of every network namespace path (a daemon in a container)"),
        .bool("broadcast", "ask DHCP servers to broadcast their replies"),
        .duration("timeout", "the longest wait for one reply before sending again", default: "10s"),
        .duration("resendmax", "the longest gap between retransmissions", default: "1m2s"),
        .duration("resendtimeout", "how long an ADD waits for its lease", default: "3m28s"),
        .init("statedir", "where leases are kept across restarts", default: "/var/lib/cni/dhcp"),
        .duration("watchinterval", "how often a held lease's link and namespace are looked at", default: "10s"),
        .init("loglevel", Logger.Level.allCases.map(\.rawValue).joined(separator: ", "), default: "info",
              accepts: { Logger.Level(rawValue: $0) != nil }),
        .bool("version", "print the version and exit"),
    ])

    /// The invocation the arguments (after "daemon") ask for; Go's messages for bad ones, and an
    /// argument left after the flags is refused (the reference ignores it: a typo would go unseen,
    /// and `-broadcast false` would broadcast).
    public static func invocation(_ arguments: [String]) throws(GoFlags.Failure) -> Invocation {
        guard case .values(let given, let rest) = try flags.parse(arguments) else { return .help(flags.usage) }
        if let stray = rest.first {
            let previous = arguments.count > rest.count ? arguments[arguments.count - rest.count - 1] : ""
            let afterBoolean = flags.flags.contains { $0.isBool && (previous == "-" + $0.name || previous == "--" + $0.name) }
            let hint = afterBoolean && GoFlags.bool(stray) != nil ? " (a boolean flag takes its value after \"=\": \(previous)=\(stray))" : ""
            throw GoFlags.Failure(message: "unexpected argument " + stray + hint)
        }
        if given["version"] == "true" { return .version }
        func value(_ name: String) -> String { given[name] ?? flags.flags.first { $0.name == name }!.defaultText }
        // Each duration was checked by the parse, and the defaults are durations too.
        func seconds(_ name: String) -> Double { GoFlags.seconds(value(name))! }
        var o = Options()
        (o.socketPath, o.pidFile, o.hostPrefix, o.stateDirectory) = (value("socketpath"), value("pidfile"), value("hostprefix"), value("statedir"))
        // An empty socket path is the default one, as in the reference (a template's unset variable).
        if o.socketPath.isEmpty { o.socketPath = DHCPConfig.defaultSocketPath }
        (o.timing.broadcast, o.timing.replyTimeout, o.timing.resendMax, o.timing.acquireTimeout, o.timing.watchInterval) =
            (given["broadcast"] == "true", seconds("timeout"), seconds("resendmax"), seconds("resendtimeout"), seconds("watchinterval"))
        return .run(o, logLevel: Logger.Level(rawValue: value("loglevel"))!)
    }
}
