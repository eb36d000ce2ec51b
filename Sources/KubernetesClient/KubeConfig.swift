import Basics
import CNI
import Kubernetes
import LinuxSystem

/// Where the API server is and how to authenticate: from a kubeconfig file (the current
/// context's cluster and user) or the pod's service account. Secrets that live in files (the
/// service account token, `tokenFile`) are read when the connection is made, on every process
/// start, never copied: a rotated bound token is picked up (multus#852).
public struct KubeConnection: Sendable {
    public var server: String
    /// PEM of the CA that signs the server's certificate; nil: the system's roots.
    public var caPEM: [UInt8]?
    public var insecureSkipTLSVerify = false
    public var token: String?
    public var tokenFile: String?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// The context's namespace ("default" when none).
    public var namespace = "default"
    /// The namespace the kubeconfig's context or the service account names; nil when neither
    /// does (whereabouts then uses kube-system, as upstream).
    public var configuredNamespace: String?

    public init(server: String) { self.server = server }

    /// The bearer token to send: `token`, else the current content of `tokenFile`.
    public func bearerToken() throws(KubeError) -> String? {
        if let token, !token.isEmpty { return token }
        guard let tokenFile, !tokenFile.isEmpty else { return nil }
        do {
            return String(decoding: try FileSystem.read(tokenFile, atMost: 1 << 20), as: UTF8.self).trimmingWhitespace
        } catch {
            throw KubeError(.configuration, "read token file \(tokenFile)", error.description)
        }
    }
}

extension KubeConnection {
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account's token (as a file, read
    /// on use), CA and namespace. nil when not running in a pod.
    public static func inCluster(environment env: [String: String],
                                 directory: String = serviceAccountDirectory) throws(KubeError) -> KubeConnection? {
        guard InCluster.detected(env), let host = env["KUBERNETES_SERVICE_HOST"], let port = env["KUBERNETES_SERVICE_PORT"] else {
            return nil
        }
        var c = KubeConnection(server: "https://" + (host.contains(":") ? "[\(host)]" : host) + ":" + port)
        c.tokenFile = directory + "/token"
        c.caPEM = try? FileSystem.read(directory + "/ca.crt")
        if let ns = try? FileSystem.read(directory + "/namespace") {
            let text = String(decoding: ns, as: UTF8.self).trimmingWhitespace
            if !text.isEmpty { (c.namespace, c.configuredNamespace) = (text, text) }
        }
        return c
    }

    /// A kubeconfig file: its current context's cluster, user and namespace. Relative paths in it
    /// are relative to the file's directory, as kubectl reads them.
    public static func kubeconfig(path: String) throws(KubeError) -> KubeConnection {
        let text: [UInt8]
        do { text = try FileSystem.read(path, atMost: 1 << 20) } catch {
            throw KubeError(.configuration, "read kubeconfig \(path)", error.description)
        }
        let root: YAMLNode
        do {
            guard let node = try YAMLNode.parse(text) else { throw KubeError(.configuration, "kubeconfig \(path)", "empty") }
            root = node
        } catch let e as KubeError {
            throw e
        } catch {
            throw KubeError(.configuration, "parse kubeconfig \(path)", "\(error)")
        }
        return try Parsed(root: root, path: path).connection()
    }

    /// The pieces of a kubeconfig, looked up by name from the current context.
    struct Parsed {
        let root: YAMLNode
        let path: String

        func fail(_ what: String) -> KubeError { KubeError(.configuration, "kubeconfig \(path)", what) }

        func named(_ list: String, _ name: String, _ key: String) throws(KubeError) -> YAMLNode {
            for item in root[list]?.items ?? [] where item["name"]?.string == name {
                if let v = item[key] { return v }
            }
            throw fail("no \(key) named \"\(name)\" in \(list)")
        }

        /// A file path as written, or relative to the kubeconfig's directory.
        func file(_ p: String) -> String { p.hasPrefix("/") ? p : FileSystem.directoryName(path) + "/" + p }

        func bytes(_ node: YAMLNode, data: String, file key: String) throws(KubeError) -> [UInt8]? {
            if let b64 = node[data]?.string, !b64.isEmpty {
                // Line breaks and spaces of a wrapped value are not part of it. Padded standard
                // base64, as Go decodes a []byte: whole quads, `=` only at the end.
                let compact = b64.utf8.filter { ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains($0) }
                let pad = compact.reversed().prefix { $0 == UInt8(ascii: "=") }.count
                guard compact.count % 4 == 0, pad <= 2, !compact.dropLast(pad).contains(UInt8(ascii: "=")),
                      let d = Base64.decode(String(decoding: compact, as: UTF8.self)) else {
                    throw fail("\(data) is not base64")
                }
                return d
            }
            guard let p = node[key]?.string, !p.isEmpty else { return nil }
            do { return try FileSystem.read(file(p), atMost: 1 << 20) } catch { throw fail("\(key): \(error)") }
        }

        func connection() throws(KubeError) -> KubeConnection {
            guard let current = root["current-context"]?.string, !current.isEmpty else { throw fail("no current-context") }
            let context = try named("contexts", current, "context")
            guard let clusterName = context["cluster"]?.string else { throw fail("context \(current) names no cluster") }
            let cluster = try named("clusters", clusterName, "cluster")
            guard let server = cluster["server"]?.string, !server.isEmpty else { throw fail("cluster \(clusterName) has no server") }
            var c = KubeConnection(server: server)
            c.caPEM = try bytes(cluster, data: "certificate-authority-data", file: "certificate-authority")
            // YAML 1.1's words for true, as the Go YAML library reads them.
            c.insecureSkipTLSVerify = ["true", "yes", "on", "y"].contains(cluster["insecure-skip-tls-verify"]?.string?.lowercased() ?? "")
            if let ns = context["namespace"]?.string, !ns.isEmpty { (c.namespace, c.configuredNamespace) = (ns, ns) }
            if let userName = context["user"]?.string {
                let user = try named("users", userName, "user")
                c.token = user["token"]?.string
                c.tokenFile = user["tokenFile"]?.string.map(file)
                c.clientCertificatePEM = try bytes(user, data: "client-certificate-data", file: "client-certificate")
                c.clientKeyPEM = try bytes(user, data: "client-key-data", file: "client-key")
            }
            return c
        }
    }
}
