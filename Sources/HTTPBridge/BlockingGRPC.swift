import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// One unary gRPC call over a unix socket (HTTP/2 with prior knowledge, as kubelet's local APIs
/// speak it) for synchronous plugins: swift-nio-http2 on NIO's shared event loop, bridged to the
/// calling thread here, as `BlockingHTTPClient` does for HTTPS. The messages are the caller's
/// bytes, gRPC-framed by the caller: this knows HTTP/2 and gRPC's status trailers, not protobuf.
public enum BlockingGRPC {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// No connection, a reset or a timeout: the server did not answer.
        case transport(String)
        /// The server answered with a non-OK gRPC status.
        case status(Int, String)
        /// An answer that is not a gRPC response (a non-200 HTTP status, one over the size limit).
        case invalid(String)

        public var description: String {
            switch self {
            case .transport(let m), .invalid(let m): return m
            case .status(let code, let m): return "gRPC status \(code)\(m.isEmpty ? "" : ": \(m)")"
            }
        }
    }

    /// `path` is `/<package>.<Service>/<Method>`; `request` a framed message. Returns the
    /// response's DATA bytes (at most `maxResponse`), once the server ended the stream with
    /// grpc-status 0.
    public static func call(unixSocket socket: String, path: String, request: [UInt8], timeout: TimeAmount,
                            maxResponse: Int = 16 << 20) throws(Failure) -> [UInt8] {
        _ = BlockingHTTPClient.oneEventLoop
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let response = loop.makePromise(of: [UInt8].self)
        let timer = loop.scheduleTask(in: timeout) {
            response.fail(Failure.transport("no answer from \(socket) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        defer { timer.cancel() }
        let channel: Channel
        do {
            // HTTP/2 in place before the connection exists: the server's SETTINGS may come first.
            channel = try ClientBootstrap(group: loop).connectTimeout(timeout)
                .channelInitializer { ch in ch.configureHTTP2Pipeline(mode: .client, inboundStreamInitializer: nil).map { _ in } }
                .connect(unixDomainSocketPath: socket).wait()
        } catch {
            response.fail(error)
            throw .transport("connect to \(socket): \(error)")
        }
        defer { channel.close(promise: nil) }
        do {
            let stream = try channel.eventLoop.flatSubmit { () -> EventLoopFuture<Channel> in
                do {
                    return try channel.pipeline.syncOperations.handler(type: HTTP2StreamMultiplexer.self).createStreamChannel { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(UnaryResponseHandler(response, limit: maxResponse))
                        }
                    }
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }.wait()
            let headers = HPACKHeaders([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                                        ("content-type", "application/grpc"), ("te", "trailers")])
            stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers)), promise: nil)
            stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: request)), endStream: true)),
                                 promise: nil)
            return try response.futureResult.wait()
        } catch let e as Failure {
            throw e
        } catch {
            response.fail(error)
            throw .transport("\(path) on \(socket): \(error)")
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
                    finish(code == 0 ? .success(body) : .failure(Failure.status(code, h.headers.first(name: "grpc-message") ?? "")))
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
    }
}
