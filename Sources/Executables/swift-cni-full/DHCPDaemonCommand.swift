import ArgumentParser
import Basics
import Glibc
import DHCPDaemon
import LinuxSystem
import Logging

/// `dhcp daemon [flags]`: the lease clients, with the reference's flags (Go style: one dash;
/// two work too).
/// A Go-style duration: "10s", "1m30s", "500ms", or plain seconds.
struct Duration: ExpressibleByArgument {
    let seconds: Double
    init(seconds: Double) { self.seconds = seconds }
    init?(argument: String) {
        if let s = Double(argument) {
            guard s > 0, s.isFinite else { return nil }
            seconds = s
            return
        }
        var total = 0.0, number = ""
        var rest = Substring(argument)
        while !rest.isEmpty {
            let c = rest.first!
            if c.isNumber || c == "." { number.append(c); rest = rest.dropFirst(); continue }
            guard let n = Double(number) else { return nil }
            let unit: Double
            if rest.hasPrefix("ms") { unit = 0.001; rest = rest.dropFirst(2) }
            else if rest.hasPrefix("h") { unit = 3600; rest = rest.dropFirst() }
            else if rest.hasPrefix("m") { unit = 60; rest = rest.dropFirst() }
            else if rest.hasPrefix("s") { unit = 1; rest = rest.dropFirst() }
            else { return nil }
            total += n * unit
            number = ""
        }
        guard number.isEmpty, total > 0, total.isFinite else { return nil }
        seconds = total
    }
}

struct DaemonCommand: ParsableCommand {
    static func run(_ arguments: [String]) -> Never {
        main(arguments)
        Glibc.exit(0)
    }

    static let configuration = CommandConfiguration(
        commandName: "dhcp daemon",
        abstract: "Hold DHCP leases for the dhcp IPAM plugin: acquire, renew, release; resume them after a restart.",
        version: SwiftCNI.version)

    @Option(name: [.customLong("socketpath", withSingleDash: true), .customLong("socketpath")],
            help: "the unix socket the plugin connects to")
    var socketPath = "/run/cni/dhcp.sock"
    @Option(name: [.customLong("pidfile", withSingleDash: true), .customLong("pidfile")], help: "write the daemon's PID here")
    var pidFile = ""
    @Option(name: [.customLong("hostprefix", withSingleDash: true), .customLong("hostprefix")],
            help: "prefix of every network namespace path (a daemon in a container)")
    var hostPrefix = ""
    @Flag(name: [.customLong("broadcast", withSingleDash: true), .customLong("broadcast")],
          help: "ask DHCP servers to broadcast their replies")
    var broadcast = false
    @Option(name: [.customLong("timeout", withSingleDash: true), .customLong("timeout")],
            help: "the longest wait for one reply before sending again (Go duration)")
    var timeout = Duration(seconds: 10)
    @Option(name: [.customLong("resendmax", withSingleDash: true), .customLong("resendmax")],
            help: "the longest gap between retransmissions (Go duration)")
    var resendMax = Duration(seconds: 62)
    @Option(name: [.customLong("resendtimeout", withSingleDash: true), .customLong("resendtimeout")],
            help: "how long an ADD waits for its lease (Go duration)")
    var resendTimeout = Duration(seconds: 208)
    @Option(name: [.customLong("statedir", withSingleDash: true), .customLong("statedir")],
            help: "where leases are kept across restarts")
    var stateDir = "/var/lib/cni/dhcp"
    @Option(name: [.customLong("watchinterval", withSingleDash: true), .customLong("watchinterval")],
            help: "how often a held lease's link and namespace are looked at (Go duration)")
    var watchInterval = Duration(seconds: 10)
    @Option(name: [.customLong("loglevel", withSingleDash: true), .customLong("loglevel")],
            help: "trace, debug, info, notice, warning, error or critical")
    var logLevel = "info"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var o = DHCPDaemon.Options()
        (o.socketPath, o.pidFile, o.hostPrefix, o.stateDirectory) = (socketPath, pidFile, hostPrefix, stateDir)
        (o.timing.broadcast, o.timing.replyTimeout, o.timing.resendMax, o.timing.acquireTimeout) =
            (broadcast, timeout.seconds, resendMax.seconds, resendTimeout.seconds)
        o.timing.watchInterval = watchInterval.seconds
        let daemon = try DHCPDaemon(options: o, logger: Logger(label: "swift-cni.dhcp"))
        let (fd, created) = try daemon.listen(environment: ProcessEnvironment.current())
        daemon.serve(fd: fd, created: created)
    }
}
