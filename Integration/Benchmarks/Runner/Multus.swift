import CNI
import Glibc
import LinuxSystem
import NetNS

/// multus's own cost, ours against ours: (1) multus with one static delegate (macvlan +
/// host-local) against the delegate alone, ADD wall and DEL CPU, target ≤ +2 ms each; (2) a pod
/// with 1 and with 10 NetworkAttachmentDefinitions through the Kubernetes API test server,
/// target ≤ 15 ms per extra network. Returns the rows of the "multus" table.
struct MultusBenchmark {
    let ours: String
    let runs: Int
    /// Where ../shared/tools/build-peers.sh put upstream's binaries (multus = v4.0.2), if it ran.
    var peers = "/var/cache/swift-cni-peers"
    let tag = String(getpid())

    struct Line { var name: String; var a: Samples; var b: Samples; var target: String; var perExtra: Double? }

    func ip(_ a: String...) throws { _ = try Subprocess.run("/usr/sbin/ip", arguments: a, environment: baseEnv) }

    func run() throws -> [Line] {
        try withHostAndPod("m", parent: "mbench0") { hostName, podName in try run(hostName: hostName, podName: podName) }
    }

    func run(hostName: String, podName: String) throws -> [Line] {
        let dir = "/tmp/cni-bench-multus-\(tag)"
        try FileSystem.makeDirectories(dir)
        defer { _ = try? Subprocess.run("/bin/rm", arguments: ["-rf", dir], environment: baseEnv) }
        let host = try NetworkNamespace(path: "/var/run/netns/\(hostName)")
        let pod = "/var/run/netns/\(podName)"
        var lines = try host.run { try staticDelegate(dir: dir, pod: pod) }
        let server = try APIServer(dir: dir, netns: "/var/run/netns/\(hostName)")
        defer { server.stop() }
        lines += try host.run { try nads(dir: dir, pod: pod, server: server) }
        return lines
    }

    func delegate(_ dir: String, _ name: String, _ subnet: String) -> String {
        #"{"cniVersion":"1.0.0","name":"\#(name)","type":"macvlan","master":"mbench0","mode":"bridge","ipam":{"type":"host-local","subnet":"\#(subnet)","dataDir":"\#(dir)/ipam"}}"#
    }

    func env(_ command: String, _ id: String, _ pod: String, args: String = "", path: String? = nil) -> [String: String] {
        ["CNI_COMMAND": command, "CNI_CONTAINERID": id, "CNI_NETNS": pod, "CNI_IFNAME": "eth0", "CNI_PATH": path ?? ours, "CNI_ARGS": args]
    }

    func staticDelegate(dir: String, pod: String) throws -> [Line] {
        let alone = delegate(dir, "mb-alone", "10.210.0.0/16")
        let wrapped = #"{"cniVersion":"1.0.0","name":"mb-multus","type":"multus","cniDir":"\#(dir)/multus","binDir":"\#(ours)","delegates":[\#(delegate(dir, "mb-delegate", "10.211.0.0/16"))]}"#
        var add = [Samples(), Samples()], del = [Samples(), Samples()]
        for n in 0..<runs {
            for (i, (plugin, conf)) in [("multus", wrapped), ("macvlan", alone)].enumerated() {
                let a = require(try invoke(ours + "/" + plugin, env("ADD", "m\(n)", pod), conf), "\(plugin) ADD")
                let d = require(try invoke(ours + "/" + plugin, env("DEL", "m\(n)", pod), conf), "\(plugin) DEL")
                add[i].add(a.wall * 1000); del[i].add(d.cpu * 1000)
            }
        }
        var lines = [Line(name: "multus + 1 static delegate vs the delegate alone: ADD wall", a: add[0], b: add[1], target: "≤ +2 ms"),
                     Line(name: "multus + 1 static delegate vs the delegate alone: DEL CPU", a: del[0], b: del[1], target: "≤ +2 ms")]
        // Upstream v4.0.2 the same way, with the Go reference delegates (for comparison).
        let upstream = peers + "/multus", goDir = "/usr/lib/cni"
        guard FileSystem.isExecutableFile(upstream) else { return lines }
        let goAlone = delegate(dir, "mb-go-alone", "10.213.0.0/16")
        let goWrapped = #"{"cniVersion":"1.0.0","name":"mb-up","type":"multus","cniDir":"\#(dir)/multus-up","binDir":"\#(goDir)","delegates":[\#(delegate(dir, "mb-go-delegate", "10.214.0.0/16"))]}"#
        var uadd = [Samples(), Samples()], udel = [Samples(), Samples()]
        for n in 0..<runs {
            for (i, (binary, conf)) in [(upstream, goWrapped), (goDir + "/macvlan", goAlone)].enumerated() {
                let a = require(try invoke(binary, env("ADD", "u\(n)", pod, path: goDir), conf), "\(binary) ADD")
                let d = require(try invoke(binary, env("DEL", "u\(n)", pod, path: goDir), conf), "\(binary) DEL")
                uadd[i].add(a.wall * 1000); udel[i].add(d.cpu * 1000)
            }
        }
        lines.append(Line(name: "upstream multus v4.0.2 + 1 Go delegate vs the delegate alone: ADD wall", a: uadd[0], b: uadd[1], target: "(comparison)"))
        lines.append(Line(name: "upstream multus v4.0.2 + 1 Go delegate vs the delegate alone: DEL CPU", a: udel[0], b: udel[1], target: "(comparison)"))
        return lines
    }

    /// A pod with 1 and with 10 NADs (macvlan + host-local each), the master a macvlan too.
    func nads(dir: String, pod: String, server: APIServer) throws -> [Line] {
        for i in 0..<10 { try server.nad("n\(i)", delegate(dir, "n\(i)", "10.22\(i).0.0/16")) }
        let conf = #"{"cniVersion":"1.0.0","name":"mb-k8s","type":"multus","kubeconfig":"\#(server.kubeconfig)","cniDir":"\#(dir)/multus-k8s","binDir":"\#(ours)","delegates":[\#(delegate(dir, "mb-master", "10.212.0.0/16"))]}"#
        var samples = [Samples(), Samples()]
        let rounds = max(5, runs / 10)
        // As the node image installs it: multus straight to swift-cni-full.
        let multus = try clusterLink("multus", ours: ours, in: dir + "/cluster-bin")
        for n in 0..<rounds {
            for (i, count) in [1, 10].enumerated() {
                let podName = "p\(count)-\(n)"
                try server.pod(podName, networks: (0..<count).map { "n\($0)" }.joined(separator: ","))
                let args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=\(podName)"
                let a = require(try invoke(multus, env("ADD", "k\(count)-\(n)", pod, args: args), conf), "multus ADD \(count) NADs")
                _ = require(try invoke(multus, env("DEL", "k\(count)-\(n)", pod, args: args), conf), "multus DEL \(count) NADs")
                samples[i].add(a.wall * 1000)
            }
        }
        let perExtra = (samples[1].median - samples[0].median) / 9
        return [Line(name: "multus ADD through the API server: 10 NADs vs 1 NAD", a: samples[1], b: samples[0],
                     target: "≤ 15 ms per extra network", perExtra: perExtra)]
    }
}

/// The Kubernetes API test server (Integration/KubeAPI) in the benchmark's host namespace.
final class APIServer {
    let dir: String
    /// The namespace it listens in (nil: the runner's own).
    let netns: String?
    var pid: Int32 = 0
    var port = 0
    var kubeconfig: String { dir + "/kubeconfig" }

    init(dir: String, netns: String?) throws {
        (self.dir, self.netns) = (dir, netns)
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        let script = """
            set -e; cd \(dir)
            openssl req -x509 \(ec) -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
            openssl req \(ec) -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null
            echo bench-token > token
            \(netns.map { "nsenter --net=\($0) " } ?? "")/usr/bin/python3 \(FileSystem.absolutePath("Integration/KubeAPI/kube-api-server.py")) --cert server.pem --key server.key --token-file token > server.out 2>&1 &
            echo $!
            """
        let out = try Subprocess.run("/bin/sh", arguments: ["-c", script], environment: baseEnv)
        pid = Int32(String(decoding: out.stdout, as: UTF8.self).trimmingWhitespace) ?? 0
        for _ in 0..<100 {
            if let text = try? FileSystem.read(dir + "/server.out"), let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first,
               line.hasPrefix("listening "), let p = Int(line.dropFirst(10)) { port = p; break }
            usleep(50_000)
        }
        guard port > 0 else { throw SystemError("start the API test server", errno: EIO) }
        try FileSystem.writeAtomically(kubeconfig, Array("""
            apiVersion: v1
            kind: Config
            clusters: [{name: b, cluster: {server: "https://127.0.0.1:\(port)", certificate-authority: \(dir)/ca.pem}}]
            users: [{name: u, user: {tokenFile: \(dir)/token}}]
            contexts: [{name: c, context: {cluster: b, user: u}}]
            current-context: c
            """.utf8))
    }

    func stop() { if pid > 0 { kill(pid, SIGKILL); pid = 0 } }

    func post(_ path: String, _ body: String) throws {
        let enter = netns.map { ["/usr/bin/nsenter", "--net=\($0)"] } ?? []
        let argv = enter + ["/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                     "--cacert", dir + "/ca.pem", "-H", "Authorization: Bearer bench-token", "-H", "Content-Type: application/json",
                                     "--data-binary", "@-", "https://127.0.0.1:\(port)\(path)"]
        let out = try Subprocess.run(argv[0], arguments: Array(argv.dropFirst()), environment: baseEnv, stdin: Array(body.utf8))
        guard String(decoding: out.stdout, as: UTF8.self) == "201" else { throw SystemError("POST \(path)", errno: EIO) }
    }

    func nad(_ name: String, _ config: String) throws {
        try post("/apis/k8s.cni.cncf.io/v1/namespaces/bench/network-attachment-definitions",
                 #"{"metadata":{"name":"\#(name)"},"spec":{"config":\#(JSONValue.string(config).serializedString())}}"#)
    }

    func pod(_ name: String, networks: String) throws {
        try post("/api/v1/namespaces/bench/pods", #"{"metadata":{"name":"\#(name)","annotations":{"k8s.v1.cni.cncf.io/networks":"\#(networks)"}},"spec":{}}"#)
    }
}
