import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// HTTP/1.1 and HTTPS for synchronous plugins, straight on SwiftNIO (NIOPosix, NIOHTTP1's codec,
/// swift-nio-ssl) with NIO's shared event loop, bridged to the calling thread at this one edge:
/// each call waits on its future from the plugin's thread, which never enters a namespace while
/// waiting. A plugin process makes a handful of sequential requests to one server, so this keeps
/// one kept-alive connection and nothing else: no pool, no redirects, no proxy, no HTTP/2.
/// (AsyncHTTPClient did the same work before; its connection pool, tracing span and logger
/// metadata — the pool key, the event loop and the request rendered through `Mirror` on every
/// process's first request — were half of an etcd ADD's 22M instructions, most of it the
/// runtime's first-time protocol-conformance scans.) Made on first use only, so a config that
/// never calls a server pays nothing: no event loop, no TLS context. Used by the Kubernetes client
/// and by whereabouts' etcd datastore.
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

    let connectTimeout: TimeAmount
    let readTimeout: TimeAmount
    let retryConnecting: Bool
    /// The largest body accepted (a list of every pod of a big cluster stays well below).
    public var maxResponse = 256 << 20
    private let sslContext: TLSContext
    private var open: Connection?

    /// - Parameters:
    ///   - retryConnecting: retry a refused connection with backoff until `connectTimeout`
    ///     (a server restarting), or fail at once (another endpoint may answer).
    public init(tls: TLSConfiguration?, connectTimeout: TimeAmount, readTimeout: TimeAmount, retryConnecting: Bool) {
        (self.connectTimeout, self.readTimeout, self.retryConnecting) = (connectTimeout, readTimeout, retryConnecting)
        sslContext = TLSContext(tls ?? .makeClientConfiguration())
    }

    deinit { open?.channel.close(promise: nil) }

    /// One event loop thread serves the few sequential requests of a plugin process (the default
    /// is one per core, each a thread to start and tear down). Set once, before NIO's shared
    /// group exists (NIO traps on a second setting).
    static let oneEventLoop: Void = { NIOSingletons.groupLoopCountSuggestion = 1 }()

    /// One request, waited for until `deadline` (and for at most `readTimeout` between two reads).
    public func send(_ method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]?,
                     deadline: NIODeadline) throws(Failure) -> Response {
        guard let (origin, target) = Origin.split(url) else { throw .request("invalid URL \(url)") }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target)
        head.headers.add(name: "Host", value: origin.authority)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body {
            head.headers.add(name: "Content-Length", value: String(body.count))
        } else if method == .POST || method == .PUT || method == .PATCH {
            head.headers.add(name: "Content-Length", value: "0")
        }
        var reused = false
        if let c = open, c.origin == origin, c.channel.isActive {
            reused = true
        } else {
            open?.channel.close(promise: nil)
            open = nil
        }
        while true {
            let connection: Connection
            if let open { connection = open } else { connection = try connect(origin, deadline: deadline) }
            open = connection
            do {
                let response = try connection.exchange.run(head, body, on: connection.channel, deadline: deadline,
                                                           readTimeout: readTimeout, limit: maxResponse)
                if !connection.exchange.keepAlive { connection.channel.close(promise: nil); open = nil }
                return response
            } catch {
                connection.channel.close(promise: nil)
                open = nil
                // A kept-alive connection the server closed in between: once more on a new one,
                // for a request that is safe to repeat.
                if reused, case .closedUnanswered = error, method == .GET || method == .PUT || method == .DELETE {
                    reused = false
                    continue
                }
                throw error.failure
            }
        }
    }

    func context() throws(Failure) -> NIOSSLContext {
        do { return try sslContext.context() } catch { throw .tls("TLS settings: \(error)") }
    }

    /// A new connection, ready for a request: connected, and for https the TLS handshake done.
    /// A connection refused or closed before it was ready (a server restarting, a load balancer
    /// in front of one) is tried again with backoff when `retryConnecting`, until
    /// `connectTimeout` or `deadline`; a certificate the TLS settings reject is not.
    func connect(_ origin: Origin, deadline: NIODeadline) throws(Failure) -> Connection {
        _ = Self.oneEventLoop
        let ssl = origin.secure ? try context() : nil
        // SNI and the certificate's name for a host name; for an address literal NIOSSL checks
        // the certificate's IP entries against the peer's address.
        let serverName = origin.secure && origin.address == nil ? origin.host : nil
        let giveUp = min(deadline, .now() + connectTimeout)
        var pause = TimeAmount.milliseconds(20)
        while true {
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let exchange = Exchange(ready: loop.makePromise(), secure: ssl != nil)
            let bootstrap = ClientBootstrap(group: loop)
                .connectTimeout(max(giveUp - .now(), .milliseconds(1)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        // One by one: NIOHTTP1's addHTTPClientHandlers casts an array of handlers,
                        // two more first-time conformance scans of the binary.
                        if let ssl { try pipeline.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName)) }
                        try pipeline.addHandler(HTTPRequestEncoder())
                        try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                        try pipeline.addHandler(exchange)
                    }
                }
            var channel: Channel?
            do {
                // An address is connected to as it is: a name goes through NIO's resolver
                // (getaddrinfo on a Dispatch thread) and Happy Eyeballs.
                channel = try (origin.address.map { bootstrap.connect(to: $0) }
                               ?? bootstrap.connect(host: origin.host, port: origin.port)).wait()
                try exchange.waitReady(until: giveUp)
                return Connection(channel: channel!, origin: origin, exchange: exchange)
            } catch {
                channel?.close(promise: nil)
                exchange.abandon()
                let failure = Exchange.classify(error)
                if case .tls = failure { throw failure }
                guard retryConnecting, .now() + pause < giveUp else {
                    throw .transport("connect to \(origin.authority): \(failure)")
                }
                usleep(UInt32(pause.nanoseconds / 1000))
                pause = min(pause * 2, .milliseconds(500))
            }
        }
    }

    struct Connection {
        let channel: Channel
        let origin: Origin
        let exchange: Exchange
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

/// A client's TLS context, made on its first secure connection and kept (the trust roots and the
/// client key parsed once per process).
final class TLSContext {
    let configuration: TLSConfiguration
    private var made: NIOSSLContext?

    init(_ configuration: TLSConfiguration) { self.configuration = configuration }

    func context() throws -> NIOSSLContext {
        if let made { return made }
        let c = try NIOSSLContext(configuration: configuration)
        made = c
        return c
    }
}
