import CNI
import Glibc
import HTTPBridge
import Kubernetes
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small synchronous Kubernetes API client for plugins: JSON in and out as `JSONValue`, bearer
/// token or client certificate, the cluster's CA, retries while the server restarts. Built on
/// HTTPBridge's client (one kept-alive HTTP/1.1 connection on NIO's shared event loop), created
/// on the first request only (so a config that never calls the API pays nothing: no event loop,
/// no TLS context) and bridged to the plugin's thread at that one edge: each call waits on its
/// future from the calling thread, which never enters a namespace while waiting.
public final class KubeClient: @unchecked Sendable {
    public let connection: KubeConnection
    /// Per request: connect, send and read the answer.
    public var timeout: TimeAmount = .seconds(10)
    /// Transient failures (5xx, 429, connection refused/reset) are retried every `retryInterval`
    /// for up to `retryFor` in all, as upstream multus's GetPod (250 ms steps up to 2.5 s).
    public var retryInterval: TimeAmount = .milliseconds(250)
    public var retryFor: TimeAmount = .milliseconds(2500)
    private var http: BlockingHTTPClient?

    public init(_ connection: KubeConnection) { self.connection = connection }

    /// The HTTP client, made on first use. A connection that cannot be established is retried
    /// with backoff for `retryFor` (refused while the API server restarts), then fails as a
    /// transport error.
    func client() throws(KubeError) -> BlockingHTTPClient {
        if let http { return http }
        let tls: TLSConfiguration
        do {
            tls = try BlockingHTTPClient.tlsConfiguration(caPEM: connection.caPEM, certificatePEM: connection.clientCertificatePEM,
                                                          keyPEM: connection.clientKeyPEM, verify: !connection.insecureSkipTLSVerify)
        } catch {
            throw KubeError(.configuration, "TLS settings for \(connection.server)", "\(error)")
        }
        let c = BlockingHTTPClient(tls: tls, connectTimeout: max(retryFor, .milliseconds(250)), readTimeout: timeout, retryConnecting: true)
        http = c
        return c
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var json: JSONValue? { try? JSONValue.parse(body) }
    }

    /// One API call, retried while the failure is transient. Statuses ≥ 300 throw KubeError
    /// with the server's Status message.
    public func call(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil,
                     contentType: String = "application/json") throws(KubeError) -> Response {
        let operation = "\(method.rawValue) \(path)"
        let giveUp = NIODeadline.now() + retryFor
        while true {
            do {
                return try attempt(method, path, body: body, contentType: contentType, operation: operation)
            } catch {
                guard error.isTransient, NIODeadline.now() + retryInterval < giveUp else { throw error }
                usleep(UInt32(retryInterval.nanoseconds / 1000))
            }
        }
    }

    /// One try: a status ≥ 300 is an error carrying the server's Status message (the API server
    /// does not redirect; a redirect is not followed).
    func attempt(_ method: HTTPMethod, _ path: String, body: JSONValue?, contentType: String,
                 operation: String) throws(KubeError) -> Response {
        let r = try once(method, path, body: body, contentType: contentType, operation: operation)
        guard r.status >= 300 else { return r }
        let message = r.json?["message"]?.stringValue ?? String(decoding: r.body.prefix(300), as: UTF8.self)
        throw KubeError(.status(r.status), operation, message.isEmpty ? "HTTP \(r.status)" : message)
    }

    func once(_ method: HTTPMethod, _ path: String, body: JSONValue?, contentType: String,
              operation: String) throws(KubeError) -> Response {
        let client = try client()
        let url = connection.server.hasSuffix("/") ? String(connection.server.dropLast()) + path : connection.server + path
        var headers = [("Accept", "application/json"), ("User-Agent", "swift-cni")]
        if let token = try connection.bearerToken() { headers.append(("Authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("Content-Type", contentType)) }
        do {
            let r = try client.send(method, url: url, headers: headers, body: body.map { $0.serialized() },
                                    deadline: .now() + timeout + retryFor)
            return Response(status: r.status, body: r.body)
        } catch {
            switch error {
            // A certificate the cluster's CA did not sign will not get better by asking again.
            case .tls(let m): throw KubeError(.tls, operation, m)
            case .transport(let m): throw KubeError(.transport, operation, m)
            case .request(let m): throw KubeError(.configuration, operation, m)
            }
        }
    }
}
