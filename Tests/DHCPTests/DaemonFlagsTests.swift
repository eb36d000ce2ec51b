import DHCPDaemon
import Logging
import Testing

@Suite struct GoFlagsTests {
    static let flags = GoFlags(command: "t", [
        .init("socketpath", "socket", default: "/run/x.sock"),
        .bool("broadcast", "broadcast"),
        .duration("timeout", "timeout", default: "10s"),
    ])

    func values(_ args: [String]) throws -> ([String: String], [String]) {
        guard case .values(let v, let rest) = try Self.flags.parse(args) else { throw GoFlags.Failure(message: "help") }
        return (v, rest)
    }

    func failure(_ args: [String]) -> String? {
        do { _ = try Self.flags.parse(args); return nil } catch { return error.message }
    }

    /// The spellings Go's flag package takes, each read back as the value it gives.
    @Test func readsGoSpellings() throws {
        #expect(try values(["-socketpath", "/a", "--timeout=5s", "-broadcast"]).0
                == ["socketpath": "/a", "timeout": "5s", "broadcast": "true"])
        #expect(try values(["--socketpath=/b", "-socketpath=/c"]).0 == ["socketpath": "/c"])   // the last wins
        #expect(try values(["-broadcast=false"]).0 == ["broadcast": "false"])
        #expect(try values(["-broadcast=T", "-socketpath", "-x"]).0 == ["broadcast": "true", "socketpath": "-x"])
        #expect(try values(["-socketpath="]).0 == ["socketpath": ""])
        #expect(try values([]).0.isEmpty)
    }

    /// A boolean takes no separate value; the flags end at the first non-flag, at "-" or after "--".
    @Test func stopsWhereGoStops() throws {
        #expect(try values(["-broadcast", "false", "-timeout", "1s"]) == (["broadcast": "true"], ["false", "-timeout", "1s"]))
        #expect(try values(["-timeout", "1s", "--", "-broadcast"]) == (["timeout": "1s"], ["-broadcast"]))
        #expect(try values(["-", "-broadcast"]) == ([:], ["-", "-broadcast"]))
        #expect(try values(["plain", "-broadcast"]) == ([:], ["plain", "-broadcast"]))
    }

    @Test func refusesWithGoMessages() {
        #expect(failure(["-nosuch"]) == "flag provided but not defined: -nosuch")
        #expect(failure(["--nosuch=1"]) == "flag provided but not defined: -nosuch")
        #expect(failure(["-timeout"]) == "flag needs an argument: -timeout")
        #expect(failure(["-timeout", "soon"]) == #"invalid value "soon" for flag -timeout: parse error"#)
        #expect(failure(["-broadcast=yes"]) == #"invalid boolean value "yes" for -broadcast: parse error"#)
        #expect(failure(["---timeout"]) == "bad flag syntax: ---timeout")
        #expect(failure(["-=x"]) == "bad flag syntax: -=x")
    }

    /// strconv.ParseBool's twelve spellings, and what it refuses.
    @Test func booleansAsGoSpellsThem() throws {
        for t in ["1", "t", "T", "TRUE", "true", "True"] { #expect(try values(["-broadcast=" + t]).0 == ["broadcast": "true"], "\(t)") }
        for f in ["0", "f", "F", "FALSE", "false", "False"] { #expect(try values(["-broadcast=" + f]).0 == ["broadcast": "false"], "\(f)") }
        for bad in ["", "on", "tRUE", "yes", "2"] { #expect(failure(["-broadcast=" + bad]) != nil, "\(bad)") }
    }

    @Test func helpAndUsage() throws {
        #expect(try Self.flags.parse(["-h"]) == .help && Self.flags.parse(["--help"]) == .help)
        #expect(try Self.flags.parse(["-socketpath", "/a", "-help"]) == .help)
        #expect(Self.flags.usage == """
            Usage of t:
              -broadcast
                \tbroadcast
              -socketpath string
                \tsocket (default "/run/x.sock")
              -timeout duration
                \ttimeout (default 10s)

            """)
    }

    /// Go's time.ParseDuration, and plain seconds; only durations above zero.
    @Test func durations() {
        let cases: [(String, Double?)] = [("10s", 10), ("1m30s", 90), ("1.5h", 5400), ("500ms", 0.5), ("250us", 0.00025),
                                          ("2\u{B5}s", 0.000002), ("3\u{3BC}s", 0.000003), ("100ns", 1e-7), (".5s", 0.5), ("1.s", 1),
                                          ("1h2m3s4ms", 3723.004), ("+5s", 5), ("7", 7), ("0.25", 0.25), ("+7", 7),
                                          ("2562047h", 9_223_369_200), ("2562048h", nil), ("9223372037", nil),
                                          ("0", nil), ("0s", nil), ("-1s", nil), ("-1", nil), ("", nil), ("+", nil), ("s", nil),
                                          ("10x", nil), ("1d", nil), ("1s ", nil), ("1s2", nil), ("1.2.3s", nil), ("nan", nil), ("inf", nil),
                                          ("1e3", nil), ("0x10", nil)]
        for (text, seconds) in cases {
            let got = GoFlags.seconds(text)
            #expect(got.map { abs($0 - (seconds ?? -1)) < 1e-9 } ?? (seconds == nil), "\(text): \(String(describing: got))")
        }
    }
}

/// `dhcp daemon`'s command line: the reference's flags and ours into the daemon's options.
@Suite struct DaemonInvocationTests {
    @Test func defaultsAreTheReferences() throws {
        guard case .run(let o, let level) = try DHCPDaemon.invocation([]) else { Issue.record("not a run"); return }
        #expect(o.socketPath == "/run/cni/dhcp.sock" && o.pidFile == "" && o.hostPrefix == "" && o.stateDirectory == "/var/lib/cni/dhcp")
        #expect(o.timing.replyTimeout == 10 && o.timing.resendMax == 62 && o.timing.acquireTimeout == 208 && !o.timing.broadcast)
        #expect(o.timing.watchInterval == 10 && level == .info)
    }

    /// A systemd unit's or a DaemonSet's command line, as written for the reference.
    @Test func everyFlagReachesTheOptions() throws {
        let args = ["-socketpath", "/s.sock", "--pidfile=/p", "-hostprefix", "/hostroot", "-broadcast", "-timeout", "2s",
                    "-resendmax=30s", "--resendtimeout", "1m", "-statedir", "/st", "-watchinterval", "500ms", "-loglevel", "debug"]
        guard case .run(let o, let level) = try DHCPDaemon.invocation(args) else { Issue.record("not a run"); return }
        #expect(o.socketPath == "/s.sock" && o.pidFile == "/p" && o.hostPrefix == "/hostroot" && o.stateDirectory == "/st")
        #expect(o.timing.broadcast && o.timing.replyTimeout == 2 && o.timing.resendMax == 30 && o.timing.acquireTimeout == 60)
        #expect(o.timing.watchInterval == 0.5 && level == .debug)
        // An empty socket path is the default one, as in the reference.
        guard case .run(let empty, _) = try DHCPDaemon.invocation(["-socketpath="]) else { Issue.record("not a run"); return }
        #expect(empty.socketPath == "/run/cni/dhcp.sock")
    }

    @Test func helpVersionAndRefusals() throws {
        guard case .help(let usage) = try DHCPDaemon.invocation(["--help"]) else { Issue.record("not help"); return }
        #expect(usage.hasPrefix("Usage of dhcp daemon:") && usage.contains("  -socketpath string\n"))
        guard case .version = try DHCPDaemon.invocation(["-version"]) else { Issue.record("not version"); return }
        guard case .run = try DHCPDaemon.invocation(["-version=false"]) else { Issue.record("not a run"); return }
        for (args, message) in [(["-loglevel", "loud"], #"invalid value "loud" for flag -loglevel: parse error"#),
                                (["-timeout", "0s"], #"invalid value "0s" for flag -timeout: parse error"#),
                                (["-socketpath", "/s", "extra"], "unexpected argument extra"),
                                (["-statdir", "/x"], "flag provided but not defined: -statdir"),
                                (["-broadcast", "false"], #"unexpected argument false (a boolean flag takes its value after "=": -broadcast=false)"#),
                                (["--version", "1"], #"unexpected argument 1 (a boolean flag takes its value after "=": --version=1)"#),
                                (["-socketpath", "/s", "--", "true"], "unexpected argument true")] {
            #expect(throws: GoFlags.Failure(message: message)) { try DHCPDaemon.invocation(args) }
        }
    }
}
