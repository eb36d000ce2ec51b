import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

/// Unary gRPC calls for synchronous plugins: swift-nio-http2 on NIO's shared event loop, bridged
/// to the calling thread here, as `BlockingHTTPClient` does for HTTP/1.1. One kept connection —
/// TCP with TLS (ALPN h2), cleartext TCP or a unix socket (HTTP/2 with prior knowledge, as
/// etcd's plain port and kubelet's local APIs speak it) — and one call at a time on it, each a
/// stream of its own. The messages are the caller's bytes, gRPC-framed by the caller: this knows
/// HTTP/2 and gRPC's status trailers, not protobuf. Made on first use only, like the HTTP client.
public final class BlockingGRPC: @unchecked Sendable {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// No connection, a reset or a timeout: the server did not answer.
        case transport(String)
        /// The TLS handshake failed (an untrusted certificate, no HTTP/2): not worth retrying.
        case tls(String)
        /// The server answered with a non-OK gRPC status.
        case status(Int, String)
        /// An answer that is not a gRPC response (a non-200 HTTP status, one over the size limit).
        case invalid(String)

        public var description: String {
            switch self {
            case .transport(let m), .tls(let m), .invalid(let m): return m
            case .status(let code, let m): return "gRPC status \(code)\(m.isEmpty ? "" : ": \(m)")"
            }
        }
    }

    /// What to connect to.
    public enum Target: Sendable {
        case unix(String)
        /// A host name or an IPv4/IPv6 address (without brackets), and a port.
        case tcp(String, Int)
    }

    let target: Target
    /// Over TLS: the configuration (ALPN h2 added) and its context once made.
    let tls: TLSContext?
    let connectTimeout: TimeAmount
    private var open: (channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer)?

    /// `tls` for a TCP target over TLS (its ALPN is set to h2 here).
    public init(_ target: Target, tls: TLSConfiguration? = nil, connectTimeout: TimeAmount) {
        (self.target, self.connectTimeout) = (target, connectTimeout)
        self.tls = tls.map { var c = $0; c.applicationProtocols = ["h2"]; return TLSContext(c) }
    }

    deinit { open?.channel.close(promise: nil) }

    /// One call on a socket, its connection closed after it.
    public static func call(unixSocket socket: String, path: String, request: [UInt8], timeout: TimeAmount,
                            maxResponse: Int = 16 << 20) throws(Failure) -> [UInt8] {
        try BlockingGRPC(.unix(socket), connectTimeout: timeout).call(path, request, deadline: .now() + timeout, maxResponse: maxResponse)
    }

    /// A TCP target from `http[s]://host[:port]` (a path is ignored), and whether it is over TLS.
    public static func target(url: String) -> (Target, secure: Bool)? {
        guard let (origin, _) = BlockingHTTPClient.Origin.split(url) else { return nil }
        return (.tcp(origin.host, origin.port), origin.secure)
    }

    var authority: String {
        switch target {
        case .unix: return "localhost"
        case .tcp(let host, let port): return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        }
    }

    var describedTarget: String {
        switch target {
        case .unix(let path): return path
        case .tcp: return authority
        }
    }

    /// `path` is `/<package>.<Service>/<Method>`; `request` a framed message; `metadata` extra
    /// headers (lower-case names). Returns the response's DATA bytes (at most `maxResponse`),
    /// once the server ended the stream with grpc-status 0; waits until `deadline`. A connection
    /// the server closed since the last call is replaced before the call; one that breaks during
    /// a call is not tried again (the call may have been carried out).
    public func call(_ path: String, _ request: [UInt8], metadata: [(String, String)] = [], deadline: NIODeadline,
                     maxResponse: Int = 16 << 20) throws(Failure) -> [UInt8] {
        if let c = open, !c.channel.isActive {
            c.channel.close(promise: nil)
            open = nil
        }
        let connection: (channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer)
        if let open { connection = open } else { connection = try connect(deadline: deadline) }
        open = connection
        let loop = connection.channel.eventLoop
        let response = loop.makePromise(of: [UInt8].self)
        let timer = loop.scheduleTask(deadline: deadline) {
            response.fail(Failure.transport("no answer from \(self.describedTarget) before the call's deadline"))
        }
        defer { timer.cancel() }
        var headers = HPACKHeaders([(":method", "POST"), (":scheme", tls == nil ? "http" : "https"), (":path", path),
                                    (":authority", authority), ("content-type", "application/grpc"), ("te", "trailers")])
        for (name, value) in metadata { headers.add(name: name, value: value) }
        do {
            let stream = try loop.flatSubmit { () -> EventLoopFuture<Channel> in
                let created = loop.makePromise(of: Channel.self)
                connection.multiplexer.createStreamChannel(promise: created) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        try stream.pipeline.syncOperations.addHandler(UnaryResponseHandler(response, limit: maxResponse))
                    }
                }
                return created.futureResult
            }.wait()
            stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
            stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: request)), endStream: true)),
                                 promise: nil)
            return try response.futureResult.wait()
        } catch let e as Failure {
            // A connection in an unknown state (a stream left open, a reset) is not used again.
            switch e {
            case .transport, .invalid: drop()
            case .status, .tls: break
            }
            throw e
        } catch {
            response.fail(error)
            drop()
            throw .transport("\(path) on \(describedTarget): \(error)")
        }
    }

    private func drop() {
        open?.channel.close(promise: nil)
        open = nil
    }

    /// A new connection, ready for calls: connected and, over TLS, the handshake done with h2
    /// agreed on.
    func connect(deadline: NIODeadline) throws(Failure) -> (channel: Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        _ = BlockingHTTPClient.oneEventLoop
        var ssl: NIOSSLContext?
        do { ssl = try tls?.context() } catch { throw .tls("TLS settings: \(error)") }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let giveUp = min(deadline, .now() + connectTimeout)
        var serverName: String?
        var address: SocketAddress?
        if case .tcp(let host, let port) = target {
            address = try? SocketAddress(ipAddress: host, port: port)
            // SNI and the certificate's name for a host name; for an address literal NIOSSL checks
            // the certificate's IP entries against the peer's address.
            serverName = address == nil ? host : nil
        }
        // Run once per connection attempt (a name's addresses are tried side by side): what the
        // caller uses is taken from the pipeline of the connection that won, below.
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(max(giveUp - .now(), .milliseconds(1)))
            .channelInitializer { channel in
                if let ssl {
                    do {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: serverName))
                        // Over TLS the connection is ready once the handshake agreed on h2; a
                        // cleartext one once connected (no handler to watch it: two fewer
                        // first-time conformance lookups of the runtime per process).
                        let readiness = Readiness(channel.eventLoop.makePromise())
                        do { try pipeline.addHandler(readiness) } catch {
                            readiness.finish(error)  // never in a pipeline: its promise completed all the same
                            throw error
                        }
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                // HTTP/2 in place before the connection exists: the server's SETTINGS may come first.
                // The handler's own (inline) multiplexer, not a second handler: a handler type is
                // two first-time conformance lookups of the runtime, each a scan of every record.
                // A stream the server opens (etcd opens none) is closed.
                do {
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init(),
                        inboundStreamInitializer: { $0.close() })
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        let connecting: EventLoopFuture<Channel>
        switch target {
        case .unix(let path): connecting = bootstrap.connect(unixDomainSocketPath: path)
        case .tcp(let host, let port): connecting = address.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: host, port: port)
        }
        // The handlers are taken from the pipeline in the step that completes the connection,
        // before the TLS handshake can begin (and, failing, tear the pipeline down).
        let found = connecting.flatMapThrowing { channel -> Connected in
            do {
                let pipeline = channel.pipeline.syncOperations
                return Connected(channel: channel, readiness: ssl == nil ? nil : try pipeline.handler(type: Readiness.self),
                                 multiplexer: try pipeline.handler(type: NIOHTTP2Handler.self).syncMultiplexer())
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
        var connected: Connected?
        do {
            connected = try found.wait()
            try connected?.readiness?.wait(until: giveUp)
            return (connected!.channel, connected!.multiplexer)
        } catch {
            connected?.channel.close(promise: nil)
            throw Self.classify(error, connecting: describedTarget)
        }
    }

    /// A connection and the handlers the caller uses, as found in its pipeline on the event loop.
    struct Connected: @unchecked Sendable {
        let channel: Channel
        let readiness: Readiness?
        let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    }

    static func classify(_ error: Error, connecting target: String) -> Failure {
        if let f = error as? Failure { return f }
        switch BlockingHTTPClient.Exchange.classify(error) {
        case .tls(let m): return .tls("TLS with \(target): \(m)")
        case .transport(let m), .request(let m): return .transport("connect to \(target): \(m)")
        }
    }

    /// Tells when a TLS connection can take calls: the handshake done with h2 agreed on (a server
    /// without HTTP/2 over TLS cannot speak gRPC). Its state is touched on the event loop only;
    /// its promise is completed whatever happens to the connection (a losing attempt's too).
    final class Readiness: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer

        private let ready: EventLoopPromise<Void>
        private var done = false
        private var timer: Scheduled<Void>?

        init(_ ready: EventLoopPromise<Void>) { self.ready = ready }

        func wait(until: NIODeadline) throws {
            let loop = ready.futureResult.eventLoop
            loop.execute {
                guard !self.done else { return }
                self.timer = loop.scheduleTask(deadline: until) { self.finish(Failure.transport("no TLS handshake before the deadline")) }
            }
            try ready.futureResult.wait()
        }

        /// On the event loop only.
        func finish(_ error: Error?) {
            guard !done else { return }
            done = true
            timer?.cancel()
            if let error { ready.fail(error) } else { ready.succeed() }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = e {
                finish(negotiated == "h2" ? nil : Failure.tls("the server did not agree to HTTP/2 over TLS (ALPN h2), which gRPC needs"))
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(Failure.transport("connection closed before it was ready"))
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) { finish(Failure.transport("connection closed before it was ready")) }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            finish(error)
            context.fireErrorCaught(error)
        }
    }

    /// Collects one response stream: HEADERS (:status), DATA, trailers (grpc-status).
    final class UnaryResponseHandler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload

        let promise: EventLoopPromise<[UInt8]>
        let limit: Int
        var body: [UInt8] = []
        var httpStatus: String?
        var done = false

        init(_ promise: EventLoopPromise<[UInt8]>, limit: Int) { (self.promise, self.limit) = (promise, limit) }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .headers(let h):
                if let s = h.headers.first(name: ":status") { httpStatus = s }
                if httpStatus != nil && httpStatus != "200" {
                    finish(.failure(Failure.invalid("HTTP status \(httpStatus ?? "")")))
                } else if let grpc = h.headers.first(name: "grpc-status") {
                    let code = Int(grpc) ?? 2
                    finish(code == 0 ? .success(body) : .failure(Failure.status(code, Self.percentDecoded(h.headers.first(name: "grpc-message") ?? ""))))
                } else if h.endStream {
                    finish(.failure(Failure.status(2, "the stream ended without grpc-status")))
                }
            case .data(let d):
                if case .byteBuffer(var b) = d.data {
                    guard body.count + b.readableBytes <= limit else {
                        finish(.failure(Failure.invalid("a response larger than \(limit) bytes")))
                        return
                    }
                    body += b.readBytes(length: b.readableBytes) ?? []
                }
                if d.endStream { finish(.failure(Failure.status(2, "the stream ended without trailers"))) }
            case .rstStream(let code):
                finish(.failure(Failure.transport("the server reset the stream (\(code))")))
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(Failure.transport("the stream closed before an answer")))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(Failure.transport("\(error)")))
            context.close(promise: nil)
        }

        func finish(_ result: Result<[UInt8], any Error>) {
            guard !done else { return }
            done = true
            promise.completeWith(result)
        }

        /// grpc-message is percent-encoded (gRPC's HTTP/2 protocol): bytes outside printable ASCII
        /// and "%" itself.
        static func percentDecoded(_ text: String) -> String {
            let u = Array(text.utf8)
            guard u.contains(UInt8(ascii: "%")) else { return text }
            func hex(_ c: UInt8) -> UInt8? {
                switch c {
                case 48...57: return c - 48
                case 65...70: return c - 55
                case 97...102: return c - 87
                default: return nil
                }
            }
            var out: [UInt8] = []
            var i = 0
            while i < u.count {
                if u[i] == UInt8(ascii: "%"), i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) {
                    out.append(h << 4 | l)
                    i += 3
                } else {
                    out.append(u[i])
                    i += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
