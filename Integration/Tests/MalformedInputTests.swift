import CNI
import Foundation
import LinuxSystem
import NetNS
import Testing
import TestSupport

/// Malformed input at scale (issue #18, item 4, the black-box half): for every executable,
/// thousands of generated configs and environments — wrong types, out-of-range numbers, huge
/// strings, deep nesting, invalid UTF-8, truncated JSON, bad or missing CNI_* variables — each
/// exec'd as a runtime would, inside a namespace of the test's own (whatever a plugin creates
/// there goes with it). Every reply: a success with JSON, or a coded CNI error (never 999); no
/// crash (signal), no hang over 2 s. Paths a config names are pointed into a scratch directory
/// first, and CNI_PATH is empty: nothing outside the test is read, written or run. The inputs come
/// from a fixed seed, so a failure names an input that reproduces.
///
/// 10,000 inputs per executable with the release builds (Integration/package.sh made them);
/// with debug builds only (slow to start) 300, or SWCNI_MALFORMED_INPUTS.
@Suite(.enabled(if: Root.required, "needs root (a network namespace)"))
struct MalformedInputTests {
    static let executables = ["host-local", "static", "macvlan", "ipvlan", "bridge", "host-device", "route-override",
                              "egress-router", "multus", "whereabouts", "dhcp"]

    /// Release builds when every one is there (as after package.sh), else the debug ones.
    static let binaries: (dir: String, release: Bool) = {
        let release = URL(fileURLWithPath: BuildProducts.directory).deletingLastPathComponent().appendingPathComponent("release").path
        if BuildProducts.linkPlugins(in: release) && FileManager.default.isExecutableFile(atPath: release + "/swift-cni-full") {
            return (release, true)
        }
        return (BuildProducts.directory, false)
    }()
    static var count: Int {
        ProcessInfo.processInfo.environment["SWCNI_MALFORMED_INPUTS"].flatMap(Int.init) ?? (binaries.release ? 10_000 : 300)
    }

    @Test(arguments: executables)
    func everyReplyIsCodedNoCrashNoHang(executable: String) throws {
        let scratch = try TemporaryDirectory("swcni-malformed")
        defer { scratch.remove() }
        try FileManager.default.createDirectory(atPath: scratch.file("bin"), withIntermediateDirectories: true)
        // Executed in a "host" namespace of the test's own, for a "pod" namespace of its own.
        let host = try NetNS("malformed-host"), pod = try NetNS("malformed-pod")
        defer { pod.delete(); host.delete() }
        let netns = try NetworkNamespace(path: host.path)
        var generator = InputGenerator(seed: UInt64(executable.utf8.reduce(5381) { $0 &* 33 &+ UInt64($1) }), scratch: scratch.path, pod: pod.path)
        let path = Self.binaries.dir + "/" + executable
        var failures: [String] = []
        var codes: [Int: Int] = [:]   // 0 = success
        try netns.run {
            for i in 0..<Self.count where failures.count < 5 {
                let input = generator.next(for: executable)
                let out = try Subprocess.run(path, environment: input.env.map { "\($0.key)=\($0.value)" }, stdin: input.stdin,
                                             captureStderr: true, timeout: 2)
                codes[out.status == 0 ? 0 : ((try? JSONValue.parse(out.stdout))?["code"]?.intValue ?? -1), default: 0] += 1
                if let problem = Self.judge(out, command: input.env["CNI_COMMAND"]) {
                    failures.append("#\(i) \(problem): env \(input.env) stdin \(String(decoding: input.stdin.prefix(300), as: UTF8.self).debugDescription)")
                }
            }
        }
        print("malformed input, \(executable): \(Self.count) inputs; replies by code (0 = success): "
              + codes.keys.sorted().map { "\($0): \(codes[$0]!)" }.joined(separator: ", "))
        #expect(failures.isEmpty, "\(executable):\n\(failures.joined(separator: "\n"))")
    }

    /// nil when the reply is acceptable.
    static func judge(_ out: Subprocess.Output, command: String?) -> String? {
        if out.timedOut { return "hung (killed after 2 s)" }
        if out.status >= 128 { return "crashed (signal \(out.status - 128))" }
        let json = try? JSONValue.parse(out.stdout)
        if out.status == 0 {
            // A success prints a result (ADD, VERSION), or nothing (DEL, CHECK, STATUS, GC), or
            // the about text on stderr (no CNI_COMMAND).
            if !out.stdout.isEmpty && json == nil { return "succeeded with output that is not JSON" }
            return nil
        }
        guard let code = json?["code"]?.intValue else { return "failed (status \(out.status)) without a coded error" }
        if code == 999 { return "answered code 999" }
        return nil
    }
}

/// Inputs from a seeded generator: a valid config for the executable, then one to three mutations.
struct InputGenerator {
    var state: UInt64
    let scratch: String
    let pod: String

    init(seed: UInt64, scratch: String, pod: String) { (state, self.scratch, self.pod) = (seed, scratch, pod) }

    mutating func random() -> UInt64 {   // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(random() % UInt64(n)) }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }

    func base(_ executable: String) -> JSONObject {
        let ipam: JSONValue = ["type": "host-local", "subnet": "10.123.0.0/24", "dataDir": .string(scratch + "/ipam"),
                               "routes": [["dst": "0.0.0.0/0"]]]
        var o = JSONObject([("cniVersion", "1.0.0"), ("name", "malformed"), ("type", .string(executable))])
        switch executable {
        case "host-local": o["ipam"] = ipam
        case "static": o["ipam"] = ["type": "static", "addresses": [["address": "10.124.0.2/24", "gateway": "10.124.0.1"]],
                                    "routes": [["dst": "0.0.0.0/0"]], "dns": ["nameservers": ["10.0.0.53"]]]
        case "macvlan", "ipvlan": o["master"] = "lo"; o["mode"] = "bridge"; o["mtu"] = 1400; o["ipam"] = ipam
        case "bridge": o["bridge"] = "mfbr0"; o["isGateway"] = true; o["ipMasq"] = false; o["vlan"] = 5; o["ipam"] = ipam
        case "host-device": o["device"] = "mfdev0"; o["dataDir"] = .string(scratch + "/hd-state"); o["ipam"] = ipam
        case "route-override": o["flushroutes"] = true; o["addroutes"] = [["dst": "192.168.0.0/24", "gw": "10.0.0.1"]]
            o["prevResult"] = ["cniVersion": "1.0.0", "interfaces": [["name": "eth0"]], "ips": [["address": "10.0.0.2/24"]]]
        case "egress-router": o["ip"] = ["addresses": ["10.125.0.10/24"], "destinations": ["80 tcp 10.200.0.1"], "gateway": "10.125.0.1"]
        case "multus": o["kubeconfig"] = .string(scratch + "/none.kubeconfig"); o["cniDir"] = .string(scratch + "/multus")
            o["delegates"] = [["cniVersion": "1.0.0", "name": "d", "type": "static", "ipam": ["type": "static", "addresses": [["address": "10.126.0.2/24"]]]]]
        case "whereabouts": o["ipam"] = ["type": "whereabouts", "range": "10.127.0.0/24", "dataDir": .string(scratch + "/wb"),
                                         "exclude": ["10.127.0.0/28"], "gateway": "10.127.0.1"]
        case "dhcp": o["ipam"] = ["type": "dhcp", "daemonSocketPath": .string(scratch + "/none.sock"),
                                  "request": [["option": "classless-static-routes"]], "provide": [["option": "host-name", "fromArg": "K8S_POD_NAME"]]]
        default: break
        }
        return o
    }

    mutating func badValue(depth: Int = 0) -> JSONValue {
        switch below(16) {
        case 0: return .number("-1")
        case 1: return .number("0")
        case 2: return .number("1e309")
        case 3: return .number("18446744073709551616")
        case 4: return .number("3.5")
        case 5: return .string("")
        case 6: return .string(String(repeating: "x", count: 100_000))
        case 7: return .string("a\u{0}b")
        case 8: return .string("../../etc/x")
        case 9: return .bool(below(2) == 0)
        case 10: return .null
        case 11: return .array(depth < 3 ? (0..<below(4)).map { _ in badValue(depth: depth + 1) } : [])
        case 12: return .object(JSONObject(depth < 3 ? [("k", badValue(depth: depth + 1))] : []))
        case 13: return .string("10.0.0.1/33")
        case 14: return .string("fe80::1%eth0")
        default: return .number(String(Int64(bitPattern: random())))
        }
    }

    /// Keys naming files, sockets or servers: into the scratch directory (or a closed port), so
    /// a mutated config never reaches outside the test.
    func confine(_ o: inout JSONObject) {
        let paths = ["dataDir", "data_dir", "cniDir", "confDir", "binDir", "kubeconfig", "daemonSocketPath", "logFile", "log_file",
                     "configuration_path", "resolvConf", "readinessindicatorfile", "etcd_key_file", "etcd_cert_file", "etcd_ca_cert_file"]
        for e in o.entries {
            if paths.contains(e.key) { o[e.key] = .string(scratch + "/" + e.key) }
            else if e.key == "etcd_host" { o[e.key] = "127.0.0.1:1" }
            else if case .object(var inner) = e.value { confine(&inner); o[e.key] = .object(inner) }
            else if case .array(let items) = e.value {
                o[e.key] = .array(items.map { item in
                    guard case .object(var inner) = item else { return item }
                    confine(&inner)
                    return .object(inner)
                })
            }
        }
        if case .object(var k)? = o["kubernetes"] { k["kubeconfig"] = .string(scratch + "/none.kubeconfig"); o["kubernetes"] = .object(k) }
    }

    mutating func next(for executable: String) -> (env: [String: String], stdin: [UInt8]) {
        var env = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ctr\(below(4))",
                   "CNI_NETNS": pod, "CNI_IFNAME": "net\(below(3))", "CNI_PATH": scratch + "/bin",
                   "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"]
        env["CNI_COMMAND"] = pick(["ADD", "ADD", "ADD", "DEL", "DEL", "CHECK", "STATUS", "GC", "VERSION"])
        var o = base(executable)
        var raw: [UInt8]? = nil
        for _ in 0...below(3) {
            switch below(12) {
            case 0, 1, 2, 9, 10:   // a known key, at the top or in ipam, gets a bad value
                if case .object(var ipam)? = o["ipam"], below(2) == 0, let k = ipam.keys.isEmpty ? nil : pick(ipam.keys) {
                    ipam[k] = badValue(); o["ipam"] = .object(ipam)
                } else if let k = o.keys.isEmpty ? nil : pick(o.keys) { o[k] = badValue() }
            case 3: if let k = o.keys.isEmpty ? nil : pick(o.keys) { o[k] = nil }   // a key goes
            case 4: o[pick(["mtu", "vlan", "priority", "range", "addresses", "ipRanges", "delegates", "runtimeConfig", "args",
                            "capabilities", "prevResult", "vlanTrunk", "ipam", "request", "dns"])] = badValue()
            case 5:   // the environment
                switch below(6) {
                case 0: env["CNI_COMMAND"] = pick(["", "add", "BOGUS", String(repeating: "A", count: 5000)])
                case 1: env["CNI_IFNAME"] = pick(["", "..", "a/b", String(repeating: "i", count: 40), "a b", "%d"])
                case 2: env["CNI_CONTAINERID"] = pick(["", "../x", String(repeating: "c", count: 3000), "a\u{1}"])
                case 3: env["CNI_ARGS"] = pick(["a=b;c", "IP=notanip", "IgnoreUnknown=1;IP=10.0.0.1/40", String(repeating: "k=v;", count: 5000),
                                                "K8S_POD_NAME=\u{1}\u{2}", "=", ";;;"])
                case 4: env["CNI_NETNS"] = pick(["", "relative/ns", "/proc/self/ns/../../x", scratch, "/nonexistent"])
                default: env[pick(["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"])] = nil
                }
            case 6:   // not a config at all
                raw = pick([[0xFF, 0xFE, 0x7B], Array("{\"cniVersion\":\"1.0.0\",\"name\":".utf8), Array(repeating: UInt8(ascii: "["), count: 100_000),
                            Array("{\"name\":\"\u{FFFD}\",\"cniVersion\":1e400}".utf8), [], Array("null".utf8), Array("[]".utf8),
                            Array("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"x\",\"a\":\"\\ud800\"}".utf8)])
            case 7: o["cniVersion"] = pick(["0.1.0", "0.2.0", "0.3.1", "0.4.0", "1.1.0", "9.9.9", "", "1.0"])
            case 8: o["cniVersion"] = "1.1.0"; env["CNI_COMMAND"] = pick(["STATUS", "GC", "CHECK"])
            default:  // deep nesting under a harmless key
                var v: JSONValue = .null
                for _ in 0..<(100 + below(2000)) { v = .array([v]) }
                o["deep"] = v
            }
        }
        confine(&o)
        return (env, raw ?? JSONValue.object(o).serialized())
    }
}
