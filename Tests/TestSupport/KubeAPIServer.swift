import CNI
import Foundation
import LinuxSystem

/// The Kubernetes API test server (Integration/KubeAPI/kube-api-server.py) for one test: a CA
/// and a server certificate made with openssl, a bearer token, the server on a free loopback
/// port, stopped (by its PID) and its files removed when the fixture goes away.
public final class KubeAPIServer: @unchecked Sendable {
    public let dir: TemporaryDirectory
    public let port: Int
    public let token = "swcni-test-token-\(UInt32.random(in: 0...UInt32.max))"
    private let process: BackgroundProcess

    public var server: String { "https://127.0.0.1:\(port)" }
    public var caFile: String { dir.file("ca.pem") }
    public var tokenFile: String { dir.file("token") }

    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Integration/KubeAPI/kube-api-server.py").path
    }

    /// The network namespace (a path) the server listens in, for plugins run there; nil: ours.
    public let netns: String?

    /// - Parameter subjectAltName: the names the server's certificate holds (openssl's syntax).
    public init(netns: String? = nil, subjectAltName: String = "IP:127.0.0.1,DNS:localhost") throws {
        self.netns = netns
        dir = try TemporaryDirectory("swcni-kubeapi")
        try TestCA.make(dir)
        try TestCA.issue(dir, name: "server", commonName: "kube-apiserver", usage: "serverAuth", subjectAltName: subjectAltName)
        try dir.write("token", token + "\n")
        let args = [Self.script, "--cert", dir.file("server.pem"), "--key", dir.file("server.key"), "--token-file", dir.file("token")]
        let here = dir.path
        let (p, text) = try netns.map { try ServerProcess.start("/usr/bin/nsenter", ["--net=\($0)", "/usr/bin/python3"] + args, directory: here) }
            ?? ServerProcess.start("/usr/bin/python3", args, directory: here)
        process = p
        // "listening <port>" once it accepts connections.
        guard text.hasPrefix("listening "), let port = Int(text.dropFirst(10)) else {
            ServerProcess.stop(p)
            throw CommandFailed(argv: [Self.script], status: -1, output: "no port: \(text) \(ServerProcess.stderr(in: here))")
        }
        self.port = port
    }

    deinit {
        stop()
        dir.remove()
    }

    public func stop() { ServerProcess.stop(process) }

    /// A kubeconfig for this server: the CA as a file (or inline data), the token inline or as
    /// `tokenFile`, and a namespace for the context.
    @discardableResult
    public func kubeconfig(name: String = "kubeconfig", tokenFile: Bool = true, inlineCA: Bool = false,
                           namespace: String = "default") throws -> String {
        let ca = inlineCA
            ? "certificate-authority-data: \(try Data(contentsOf: URL(fileURLWithPath: caFile)).base64EncodedString())"
            : "certificate-authority: \(caFile)"
        let user = tokenFile ? "tokenFile: \(self.tokenFile)" : "token: \(token)"
        try dir.write(name, """
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: \(server)
                \(ca)
            users:
            - name: multus
              user:
                \(user)
            contexts:
            - name: test
              context:
                cluster: test
                user: multus
                namespace: \(namespace)
            current-context: test
            """)
        return dir.file(name)
    }

    /// A request through curl (independent of the client under test).
    @discardableResult
    public func call(_ method: String, _ path: String, _ body: String? = nil,
                     contentType: String = "application/json") throws -> (status: Int, json: JSONValue?) {
        // By name (resolved to the server's address), so the certificate may hold the name only.
        var argv = ["curl", "-sS", "--cacert", caFile, "--resolve", "localhost:\(port):127.0.0.1",
                    "-H", "Authorization: Bearer \(token)", "-X", method,
                    "-o", "-", "-w", "\n%{http_code}", "https://localhost:\(port)" + path]
        if body != nil { argv += ["-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        let c = try Command.must((netns.map { ["nsenter", "--net=\($0)"] } ?? []) + argv, stdin: body ?? "")
        let lines = c.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, try? JSONValue.parse(lines.dropLast().joined(separator: "\n")))
    }

    public func createNamespaceObject(_ path: String, _ json: String) throws {
        let r = try call("POST", path, json)
        guard r.status == 201 else { throw CommandFailed(argv: ["POST", path], status: Int32(r.status), output: "\(String(describing: r.json))") }
    }

    /// A pod in `namespace` with these annotations.
    public func createPod(_ namespace: String, _ name: String, annotations: [String: String] = [:]) throws {
        let a = JSONValue.object(JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        try createNamespaceObject("/api/v1/namespaces/\(namespace)/pods",
                                  #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","annotations":\#(a.serializedString())},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#)
    }

    /// A NetworkAttachmentDefinition whose spec.config is `config`.
    public func createNAD(_ namespace: String, _ name: String, config: String, annotations: [String: String] = [:]) throws {
        let c = JSONValue.string(config).serializedString()
        let a = JSONValue.object(JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        try createNamespaceObject("/apis/k8s.cni.cncf.io/v1/namespaces/\(namespace)/network-attachment-definitions",
                                  #"{"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition","metadata":{"name":"\#(name)","annotations":\#(a.serializedString())},"spec":{"config":\#(c)}}"#)
    }

    public func get(_ path: String) throws -> JSONValue? {
        let r = try call("GET", path)
        return r.status == 200 ? r.json : nil
    }

    /// The next `count` requests of `method` under `path` answer `status`.
    public func fault(_ method: String, _ path: String, status: Int, count: Int) throws {
        try call("POST", "/_test/faults", #"{"method":"\#(method)","path":"\#(path)","status":\#(status),"count":\#(count)}"#)
    }

    /// The next `count` requests of `method` under `path` are read and not answered: the server
    /// closes the connection (as one that closed a kept-alive connection in between).
    public func drop(_ method: String, _ path: String, count: Int) throws {
        try call("POST", "/_test/faults", #"{"method":"\#(method)","path":"\#(path)","drop":true,"status":0,"count":\#(count)}"#)
    }

    /// The next `count` requests of `method` under `path` are read and answered with a TCP reset.
    public func reset(_ method: String, _ path: String, count: Int) throws {
        try call("POST", "/_test/faults", #"{"method":"\#(method)","path":"\#(path)","reset":true,"status":0,"count":\#(count)}"#)
    }

    /// Makes the object at `path` look `seconds` older (its creationTimestamp moved back).
    public func age(_ path: String, seconds: Int) throws {
        let r = try call("POST", "/_test/age", #"{"path":"\#(path)","seconds":\#(seconds)}"#)
        guard r.status == 200 else { throw CommandFailed(argv: ["age", path], status: Int32(r.status), output: "") }
    }

    /// The requests served so far (method, path).
    public func requests() throws -> [(String, String)] {
        try requestsWithConnections().map { ($0.0, $0.1) }
    }

    /// The requests served so far (method, path, the number of the connection it came on).
    public func requestsWithConnections() throws -> [(String, String, Int)] {
        (try call("GET", "/_test/requests").json?["requests"]?.arrayValue ?? []).map {
            ($0["method"]?.stringValue ?? "", $0["path"]?.stringValue ?? "", $0["connection"]?.intValue ?? 0)
        }
    }
}

/// A throw-away CA for a test (openssl, EC keys, two days): `ca.pem`/`ca.key`, and certificates it
/// signs as `<name>.pem`/`<name>.key` (for 127.0.0.1 and localhost unless told other names).
public enum TestCA {
    static let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    public static func make(_ d: TemporaryDirectory) throws {
        try Command.must(["openssl", "req", "-x509"] + ec + ["-keyout", d.file("ca.key"), "-out", d.file("ca.pem"), "-days", "2",
                          "-subj", "/CN=swcni-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    }

    /// - Parameter usage: `serverAuth`, `clientAuth` or both, comma-separated.
    public static func issue(_ d: TemporaryDirectory, name: String, commonName: String, usage: String,
                             subjectAltName: String = "IP:127.0.0.1,DNS:localhost") throws {
        try Command.must(["openssl", "req"] + ec + ["-keyout", d.file(name + ".key"), "-out", d.file(name + ".csr"),
                          "-subj", "/CN=" + commonName])
        try d.write(name + ".ext", "subjectAltName=\(subjectAltName)\nbasicConstraints=CA:FALSE\n"
                         + "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=\(usage)\n")
        try Command.must(["openssl", "x509", "-req", "-in", d.file(name + ".csr"), "-CA", d.file("ca.pem"), "-CAkey", d.file("ca.key"),
                          "-CAcreateserial", "-out", d.file(name + ".pem"), "-days", "2", "-extfile", d.file(name + ".ext")])
    }
}
