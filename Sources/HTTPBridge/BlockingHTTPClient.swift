import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// HTTPS for synchronous plugins: AsyncHTTPClient on NIO's shared event loop, bridged to the
/// calling thread at this one edge (each call waits on its future from the plugin's thread, which
/// never enters a namespace while waiting). Made on first use only, so a config that never calls
/// a server pays nothing: no event loop, no TLS context. Used by the Kubernetes client and by
/// whereabouts' etcd datastore.
public final class BlockingHTTPClient: @unchecked Sendable {
    /// What a request got: the status and the whole body.
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public init(status: Int, body: [UInt8]) { (self.status, self.body) = (status, body) }
    }

    /// Why a request got no answer.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Connection refused or reset, timeout: the server did not answer (worth another try).
        case transport(String)
        /// The TLS handshake failed (an untrusted certificate): not worth retrying.
        case tls(String)
        /// The request could not be made (an invalid URL).
        case request(String)

        public var description: String {
            switch self {
            case .transport(let m), .tls(let m), .request(let m): return m
            }
        }
    }

    let tls: TLSConfiguration?
    let connectTimeout: TimeAmount
    let readTimeout: TimeAmount
    let retryConnecting: Bool
    private var http: HTTPClient?

    /// - Parameters:
    ///   - retryConnecting: retry a refused connection with backoff until `connectTimeout`
    ///     (a server restarting), or fail at once (another endpoint may answer).
    public init(tls: TLSConfiguration?, connectTimeout: TimeAmount, readTimeout: TimeAmount, retryConnecting: Bool) {
        (self.tls, self.connectTimeout, self.readTimeout, self.retryConnecting) = (tls, connectTimeout, readTimeout, retryConnecting)
    }

    deinit { try? http?.syncShutdown() }

    /// One event loop thread serves the few sequential requests of a plugin process (the default
    /// is one per core, each a thread to start and tear down). Set once, before NIO's shared
    /// group exists (NIO traps on a second setting).
    static let oneEventLoop: Void = { NIOSingletons.groupLoopCountSuggestion = 1 }()

    func client() -> HTTPClient {
        if let http { return http }
        _ = Self.oneEventLoop
        var config = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: connectTimeout, read: readTimeout))
        config.connectionPool.retryConnectionEstablishment = retryConnecting
        let c = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
        http = c
        return c
    }

    /// One request, waited for until `deadline`.
    public func send(_ method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]?,
                     deadline: NIODeadline) throws(Failure) -> Response {
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, method: method, headers: HTTPHeaders(headers), body: body.map { .bytes($0) })
        } catch {
            throw .request("invalid URL \(url): \(error)")
        }
        do {
            let response = try client().execute(request: request, deadline: deadline).wait()
            var bytes: [UInt8] = []
            if var b = response.body { bytes = b.readBytes(length: b.readableBytes) ?? [] }
            return Response(status: Int(response.status.code), body: bytes)
        } catch let e as NIOSSLError {
            throw .tls("\(e)")
        } catch let e as BoringSSLError {
            throw .tls("\(e)")
        } catch {
            throw .transport("\(error)")
        }
    }

    /// A client TLS configuration: trust `caPEM` (else the system's roots), present a client
    /// certificate when given.
    public static func tlsConfiguration(caPEM: [UInt8]?, certificatePEM: [UInt8]?, keyPEM: [UInt8]?,
                                        verify: Bool = true) throws -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        if let caPEM { c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(caPEM)) }
        if !verify { c.certificateVerification = .none }
        if let certificatePEM, let keyPEM {
            c.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificatePEM).map { .certificate($0) }
            c.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: keyPEM, format: .pem))
        }
        return c
    }
}
