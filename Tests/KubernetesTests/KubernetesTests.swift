import CNI
import Foundation
@testable import HTTPBridge
import NIOCore
import NIOSSL
import Kubernetes
import LinuxSystem
import KubernetesClient
import Testing
import TestSupport

@Suite struct KubeConfigTests {
    @Test func currentContextsClusterUserAndNamespace() throws {
        let d = try TemporaryDirectory("swcni-kcfg")
        defer { d.remove() }
        try d.write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        try d.write("kc", """
            apiVersion: v1
            kind: Config
            current-context: two
            clusters:
            - name: a
              cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
            - name: b
              cluster:
                server: https://api.example:6443
                certificate-authority: ca.pem
            users:
            - name: u1
              user: {token: abc}
            - name: u2
              user:
                tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
                client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
                client-key-data: \(Data("KEY".utf8).base64EncodedString())
            contexts:
            - name: one
              context: {cluster: a, user: u1}
            - name: two
              context: {cluster: b, user: u2, namespace: openshift-multus}
            """)
        let c = try KubeConnection.kubeconfig(path: d.file("kc"))
        #expect(c.server == "https://api.example:6443" && c.namespace == "openshift-multus" && !c.insecureSkipTLSVerify)
        #expect(c.caPEM.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("-----BEGIN CERTIFICATE") == true)  // relative to the file
        #expect(c.token == nil && c.tokenFile == "/var/run/secrets/kubernetes.io/serviceaccount/token")
        #expect(c.clientCertificatePEM == Array("CERT".utf8) && c.clientKeyPEM == Array("KEY".utf8))
    }

    /// Data wrapped over lines (a folded scalar: the line breaks become spaces) and settings shared
    /// through an anchor and a merge key, as Go's YAML library reads them.
    @Test func wrappedDataAndMergedSettings() throws {
        let d = try TemporaryDirectory("swcni-kcfg")
        defer { d.remove() }
        let ca = Data("-----BEGIN CERTIFICATE-----\nMIIBxyz\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()
        let half = ca.index(ca.startIndex, offsetBy: ca.count / 2)
        try d.write("kc", """
            current-context: c
            shared: &s {server: "https://10.0.0.9:6443", insecure-skip-tls-verify: "yes"}
            clusters:
            - name: k
              cluster:
                <<: *s
                certificate-authority-data: >-
                  \(ca[..<half])
                  \(ca[half...])
            contexts:
            - {name: c, context: {cluster: k}}
            """)
        let c = try KubeConnection.kubeconfig(path: d.file("kc"))
        #expect(c.server == "https://10.0.0.9:6443" && c.insecureSkipTLSVerify && c.token == nil)
        #expect(c.caPEM == Array("-----BEGIN CERTIFICATE-----\nMIIBxyz\n-----END CERTIFICATE-----\n".utf8))
        // Not base64, or cut short (Go's decoding refuses both): a configuration error, not a truncated PEM.
        for bad in ["no*base64", String(ca.dropLast(5)), "QUJD=RA="] {
            try d.write("kc", "current-context: c\nclusters: [{name: k, cluster: {server: x, certificate-authority-data: \"\(bad)\"}}]\n"
                              + "contexts: [{name: c, context: {cluster: k}}]\n")
            #expect((#expect(throws: KubeError.self) { try KubeConnection.kubeconfig(path: d.file("kc")) })?.cniError.code == 7)
        }
    }

    @Test(arguments: ["current-context: nope\nclusters: []\ncontexts: []\n", "clusters: []\n", "{", "", "a: 1\n---\ncurrent-context: c\n"])
    func unusableKubeconfigsAreConfigErrors(text: String) throws {
        let d = try TemporaryDirectory("swcni-kcfg")
        defer { d.remove() }
        try d.write("kc", text)
        let e = #expect(throws: KubeError.self) { try KubeConnection.kubeconfig(path: d.file("kc")) }
        #expect(e?.cniError.code == 7)
        #expect((#expect(throws: KubeError.self) { try KubeConnection.kubeconfig(path: d.file("missing")) })?.cniError.code == 7)
    }

    @Test func inClusterFromTheServiceAccount() throws {
        let d = try TemporaryDirectory("swcni-sa")
        defer { d.remove() }
        try d.write("token", "t1\n")
        try d.write("ca.crt", "CA")
        try d.write("namespace", "kube-system\n")
        #expect(try KubeConnection.inCluster(environment: [:], directory: d.path) == nil)
        let c = try #require(try KubeConnection.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                                         directory: d.path))
        #expect(c.server == "https://10.96.0.1:443" && c.namespace == "kube-system" && c.caPEM == Array("CA".utf8))
        // The token is read on use, each time: a rotated bound token is picked up (multus#852).
        #expect(try c.bearerToken() == "t1")
        try d.write("token", "t2")
        #expect(try c.bearerToken() == "t2")
        let v6 = try #require(try KubeConnection.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"],
                                                          directory: d.path))
        #expect(v6.server == "https://[fd00::1]:6443")
    }
}

/// The client against the test API server (HTTPS, the test's CA, bearer token).
@Suite(.serialized) struct KubeClientTests {
    @Test func podsAndNADsOverHTTPS() throws {
        let api = try KubeAPIServer()
        try api.createPod("ns1", "web", annotations: ["k8s.v1.cni.cncf.io/networks": "macvlan-conf@net7"])
        try api.createNAD("ns1", "macvlan-conf", config: #"{"cniVersion":"0.3.1","type":"macvlan"}"#)
        for inline in [false, true] {
            let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig(inlineCA: inline)))
            let pod = try client.pod(namespace: "ns1", name: "web")
            #expect(pod.name == "web" && pod.namespace == "ns1" && !pod.uid.isEmpty)
            #expect(pod.annotations["k8s.v1.cni.cncf.io/networks"] == "macvlan-conf@net7")
            let nad = try client.networkAttachmentDefinition(namespace: "ns1", name: "macvlan-conf")
            #expect(nad.config == #"{"cniVersion":"0.3.1","type":"macvlan"}"#)
            #expect(try client.networkAttachmentDefinitions(namespace: "ns1").map(\.name) == ["macvlan-conf"])
            #expect(try client.networkAttachmentDefinitions(namespace: "other").isEmpty)
        }
    }

    /// A server named by a host name: resolved, the name sent as SNI and checked against the
    /// certificate; an address is checked against the certificate's IP entries. A certificate
    /// without the name (or the address) is a TLS error, not an unreachable server.
    @Test func aServerByNameIsResolvedAndItsNameVerified() throws {
        let api = try KubeAPIServer(subjectAltName: "DNS:localhost")
        try api.createPod("ns1", "web")
        var byName = try KubeConnection.kubeconfig(path: api.kubeconfig())
        byName.server = "https://localhost:\(api.port)"
        #expect(try KubeClient(byName).pod(namespace: "ns1", name: "web").name == "web")
        let byAddress = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        #expect((#expect(throws: KubeError.self) { try byAddress.pod(namespace: "ns1", name: "web") })?.kind == .tls)

        let other = try KubeAPIServer(subjectAltName: "DNS:api.example")
        var wrongName = try KubeConnection.kubeconfig(path: other.kubeconfig())
        wrongName.server = "https://localhost:\(other.port)"
        let e = #expect(throws: KubeError.self) { try KubeClient(wrongName).pod(namespace: "ns1", name: "web") }
        #expect(e?.kind == .tls && e?.cniError.code != 11)
    }

    /// A server that accepts connections and closes them during the TLS handshake (restarting,
    /// or a load balancer in front of none): tried again until the connect time runs out, then
    /// unreachable (11), not a TLS error.
    @Test func aHandshakeCutShortIsTriedAgainAndIsUnreachable() throws {
        let d = try TemporaryDirectory("swcni-eof")
        defer { d.remove() }
        // The count is written (whole, by a rename) before the close the client sees, so it is
        // there when the client gives up; 2 s leaves room for several tries on a loaded CI
        // machine (400 ms once saw only one).
        let (p, port) = try TCPTestServer.start(d, """
            import os
            n = 0
            while True:
                c, _ = s.accept(); n += 1
                open("\(d.file("accepted.new"))", "w").write(str(n))
                os.replace("\(d.file("accepted.new"))", "\(d.file("accepted"))")
                c.close()
            """)
        defer { ServerProcess.stop(p) }
        let api = try KubeAPIServer()
        var c = try KubeConnection.kubeconfig(path: api.kubeconfig())
        c.server = "https://127.0.0.1:\(port)"
        let client = KubeClient(c)
        client.retryFor = .seconds(2)
        let e = #expect(throws: KubeError.self) { try client.pod(namespace: "ns1", name: "web") }
        #expect(e?.kind == .transport && e?.cniError.code == 11)
        #expect((Int((try? d.read("accepted")) ?? "") ?? 0) > 1)
    }

    @Test func statusCodesAreTypedErrors() throws {
        let api = try KubeAPIServer()
        let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        let missing = #expect(throws: KubeError.self) { try client.pod(namespace: "ns1", name: "nope") }
        #expect(missing?.isNotFound == true && missing?.cniError.code == 120 && missing?.message.contains("not found") == true)
        var wrong = try KubeConnection.kubeconfig(path: api.kubeconfig())
        wrong.tokenFile = nil
        wrong.token = "not-the-token"
        let denied = #expect(throws: KubeError.self) { try KubeClient(wrong).pod(namespace: "ns1", name: "web") }
        #expect(denied?.kind == .status(401))
        // Another CA: the server is not trusted.
        var untrusted = try KubeConnection.kubeconfig(path: api.kubeconfig())
        untrusted.caPEM = nil
        #expect((#expect(throws: KubeError.self) { try KubeClient(untrusted).pod(namespace: "ns1", name: "web") })?.kind == .tls)
    }

    @Test func transientFailuresAreRetriedAsUpstreamDoes() throws {
        let api = try KubeAPIServer()
        try api.createPod("ns1", "web")
        let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        try api.fault("GET", "/api/v1/namespaces/ns1/pods/web", status: 503, count: 3)
        #expect(try client.pod(namespace: "ns1", name: "web").name == "web")
        #expect(try api.requests().filter { $0.1 == "/api/v1/namespaces/ns1/pods/web" }.count == 4)
        // Longer than the retry period: the error says "try again later".
        try api.fault("GET", "/api/v1/namespaces/ns1/pods/web", status: 500, count: 100)
        client.retryFor = .milliseconds(500)
        let e = #expect(throws: KubeError.self) { try client.pod(namespace: "ns1", name: "web") }
        #expect(e?.kind == .status(500) && e?.cniError.code == 11)
    }

    @Test func anAnnotationPatchTouchesNothingElse() throws {
        let api = try KubeAPIServer()
        try api.createPod("ns1", "web", annotations: ["keep": "me"])
        let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        try client.patchPodAnnotations(namespace: "ns1", name: "web", ["k8s.v1.cni.cncf.io/network-status": "[]"])
        let pod = try #require(try api.get("/api/v1/namespaces/ns1/pods/web"))
        #expect(pod["metadata"]?["annotations"] == ["keep": "me", "k8s.v1.cni.cncf.io/network-status": "[]"])
        #expect(pod["spec"]?["containers"]?.arrayValue?.count == 1)
        try client.patchPodAnnotations(namespace: "ns1", name: "web", ["keep": nil])
        #expect(try api.get("/api/v1/namespaces/ns1/pods/web")?["metadata"]?["annotations"] == ["k8s.v1.cni.cncf.io/network-status": "[]"])
    }

    @Test func oneConnectionServesAClientsRequestsAndOneClosedInBetweenIsReplaced() throws {
        let api = try KubeAPIServer()
        try api.createPod("ns1", "web")
        let path = "/api/v1/namespaces/ns1/pods/web"
        let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        client.retryFor = .zero  // what follows is the HTTP layer's doing, not the client's retries
        for _ in 0..<3 { #expect(try client.pod(namespace: "ns1", name: "web").name == "web") }
        try client.patchPodAnnotations(namespace: "ns1", name: "web", ["a": "1"])
        var served = try api.requestsWithConnections().filter { $0.1.hasPrefix(path) }
        #expect(served.map(\.0) == ["GET", "GET", "GET", "PATCH"] && Set(served.map(\.2)).count == 1)
        // The server closes the kept-alive connection without answering: a GET goes again on a
        // new connection...
        try api.drop("GET", path, count: 1)
        #expect(try client.pod(namespace: "ns1", name: "web").name == "web")
        served = try api.requestsWithConnections().filter { $0.1.hasPrefix(path) }
        #expect(served.count == 6 && served[4].0 == "GET" && served[5].0 == "GET" && served[4].2 == served[3].2
                && served[5].2 != served[4].2)
        // ...a PATCH does not (the server may have applied it): the transport error is the caller's.
        try api.drop("PATCH", path, count: 1)
        let e = #expect(throws: KubeError.self) { try client.patchPodAnnotations(namespace: "ns1", name: "web", ["a": "2"]) }
        #expect(e?.kind == .transport)
        served = try api.requestsWithConnections().filter { $0.1.hasPrefix(path) }
        #expect(served.count == 7 && served[6].0 == "PATCH" && served[6].2 == served[5].2)
        // The next request opens a new connection.
        #expect(try client.pod(namespace: "ns1", name: "web").annotations["a"] == "1")
        served = try api.requestsWithConnections().filter { $0.1.hasPrefix(path) }
        #expect(served.count == 8 && served[7].2 != served[6].2)
        // Reset with the request unread (the usual form of that race): the same.
        try api.reset("GET", path, count: 1)
        #expect(try client.pod(namespace: "ns1", name: "web").name == "web")
        try api.reset("PATCH", path, count: 1)
        #expect((#expect(throws: KubeError.self) { try client.patchPodAnnotations(namespace: "ns1", name: "web", ["a": "3"]) })?.kind
                == .transport)
        served = try api.requestsWithConnections().filter { $0.1.hasPrefix(path) }
        #expect(served.map(\.0).suffix(3) == ["GET", "GET", "PATCH"] && served.count == 11 && served[9].2 != served[8].2
                && served[10].2 == served[9].2)
    }

    @Test func anUnreachableServerIsTryAgainLater() throws {
        let api = try KubeAPIServer()
        let client = KubeClient(try KubeConnection.kubeconfig(path: api.kubeconfig()))
        api.stop()
        client.retryFor = .milliseconds(300)
        let e = #expect(throws: KubeError.self) { try client.pod(namespace: "ns1", name: "web") }
        #expect(e?.kind == .transport && e?.cniError.code == 11)
    }
}

/// The HTTP layer (HTTPBridge): URL reading (what a connection is for, and the request target),
/// a reset connection, how failures are classified.
@Suite struct HTTPClientTests {
    /// gRPC's grpc-message is percent-encoded; what is not a valid escape stays as it is.
    @Test func grpcMessagesArePercentDecoded() {
        let decode = BlockingGRPC.UnaryResponseHandler.percentDecoded
        #expect(decode("etcdserver: no leader") == "etcdserver: no leader")
        #expect(decode("100%25 caf%C3%A9%0A") == "100% café\n")
        #expect(decode("%zz%4") == "%zz%4")
        #expect(BlockingGRPC.target(url: "https://[fd00::1]:2379").map { "\($0.0)/\($0.secure)" } == "tcp(\"fd00::1\", 2379)/true")
        #expect(BlockingGRPC.target(url: "etcd:2379") == nil)
    }

    typealias Origin = BlockingHTTPClient.Origin

    @Test func schemeHostPortAndTarget() throws {
        let cases: [(String, Bool, String, Int, String, String)] = [
            ("https://127.0.0.1:6443/api/v1/pods?limit=5", true, "127.0.0.1", 6443, "127.0.0.1:6443", "/api/v1/pods?limit=5"),
            ("http://etcd-0.example:2379/v3/kv/txn", false, "etcd-0.example", 2379, "etcd-0.example:2379", "/v3/kv/txn"),
            ("https://[fd00::1]:6443/k8s/clusters/c-1/api", true, "fd00::1", 6443, "[fd00::1]:6443", "/k8s/clusters/c-1/api"),
            ("https://[::1]", true, "::1", 443, "[::1]", "/"),
            ("http://host?x=1#frag", false, "host", 80, "host", "/?x=1"),
            ("HTTPS://API.example:6443/api", true, "API.example", 6443, "API.example:6443", "/api"),
        ]
        for (url, secure, host, port, authority, target) in cases {
            let (o, t) = try #require(Origin.split(url))
            #expect(o == Origin(secure: secure, host: host, port: port, authority: authority) && t == target, "\(url)")
        }
        #expect(Origin.split("https://10.0.0.1")?.0.address == (try SocketAddress(ipAddress: "10.0.0.1", port: 443)))
        #expect(Origin.split("http://[fd00::1]:8080/")?.0.address == (try SocketAddress(ipAddress: "fd00::1", port: 8080)))
        #expect(Origin.split("https://api.example")?.0.address == nil)
    }

    /// Plain HTTP (etcd's gateway): a kept-alive connection reset with the second request
    /// unread. A GET goes again on a new connection; a POST does not.
    @Test func aResetKeptAliveConnectionIsReplacedForAGet() throws {
        let d = try TemporaryDirectory("swcni-rst")
        defer { d.remove() }
        let (p, port) = try TCPTestServer.start(d, """
            conns = 0
            while True:
                c, _ = s.accept(); conns += 1; n = 0
                while True:
                    if not c.recv(65536): break
                    n += 1
                    if n == 2:
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); break
                    body = str(conns).encode()
                    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
                c.close()
            """)
        defer { ServerProcess.stop(p) }
        let url = "http://127.0.0.1:\(port)/x"
        let http = BlockingHTTPClient(tls: nil, connectTimeout: .seconds(1), readTimeout: .seconds(2), retryConnecting: false)
        func get() throws -> String {
            String(decoding: try http.send(.GET, url: url, headers: [], body: nil, deadline: .now() + .seconds(3)).body, as: UTF8.self)
        }
        #expect(try get() == "1")
        #expect(try get() == "2")  // reset unread on connection 1: sent again on connection 2
        func post() throws -> String {
            String(decoding: try http.send(.POST, url: url, headers: [], body: [], deadline: .now() + .seconds(3)).body, as: UTF8.self)
        }
        let e = #expect(throws: BlockingHTTPClient.Failure.self) { try post() }  // reset on connection 2: not repeated
        if case .transport = e {} else { Issue.record("\(String(describing: e))") }
        #expect(try post() == "3")
    }

    @Test func tlsFailuresAreTheSettingsAndAPeerThatLeftIsTheTransport() {
        typealias Exchange = BlockingHTTPClient.Exchange
        if case .tls = Exchange.classify(NIOSSLExtraError.failedToValidateHostname) {} else { Issue.record("hostname") }
        if case .tls = Exchange.classify(NIOSSLError.handshakeFailed(.sslError([]))) {} else { Issue.record("handshake") }
        if case .transport = Exchange.classify(NIOSSLError.handshakeFailed(.sslError([.eofDuringHandshake]))) {} else { Issue.record("eof") }
        #expect(Exchange.isReset(IOError(errnoCode: ECONNRESET, reason: "read")) && !Exchange.isReset(IOError(errnoCode: EIO, reason: "read")))
    }

    @Test(arguments: ["ftp://h/", "https://", "https://user@h/", "https://h:0/", "https://h:70000/", "https://h:x/",
                      "https://[::1/", "https://[::1]x/", "https://h/a b", "h:80/x", "https://:443/",
                      "https://h:+80/", "https://[example.com]/", "https://a]b/", "https://[10.0.0.1]/"])
    func whatIsNotAURLWeCanRequest(_ url: String) {
        #expect(Origin.split(url) == nil)
    }
}

/// A TCP server for one test, written in Python: `body` runs with `s` listening on a free
/// loopback port (socket and struct imported).
enum TCPTestServer {
    static func start(_ d: TemporaryDirectory, _ body: String) throws -> (BackgroundProcess, Int) {
        try d.write("server.py", """
            import socket, struct
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
            print("listening %d" % s.getsockname()[1], flush=True)

            """ + body)
        let (p, line) = try ServerProcess.start("/usr/bin/python3", [d.file("server.py")], directory: d.path)
        guard line.hasPrefix("listening "), let port = Int(line.dropFirst("listening ".count)) else {
            ServerProcess.stop(p)
            throw CommandFailed(argv: ["server.py"], status: -1, output: line)
        }
        return (p, port)
    }
}
