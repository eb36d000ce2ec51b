import Glibc
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

extension BlockingHTTPClient {
    /// Why one request on a connection got no response.
    enum ExchangeError: Error {
        /// The connection closed before any of the response arrived (on a kept-alive connection:
        /// the server may have closed it in between, and never read the request).
        case closedUnanswered(String)
        case failed(Failure)

        var failure: Failure {
            switch self {
            case .closedUnanswered(let m): return .transport(m)
            case .failed(let f): return f
            }
        }
    }

    /// The last handler of a connection's pipeline (after TLS and NIOHTTP1's codec): tells when
    /// the connection is ready (connected; for https, the handshake done), then sends one
    /// request at a time and collects its response. Its state is touched on the channel's event
    /// loop only; `waitReady` and `run` hand over to the loop and wait on the calling thread.
    final class Exchange: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        private let ready: EventLoopPromise<Void>
        private let secure: Bool
        private var isReady = false
        private var readyTimer: Scheduled<Void>?

        init(ready: EventLoopPromise<Void>, secure: Bool) { (self.ready, self.secure) = (ready, secure) }

        /// Waits until the connection can take a request, or fails with what stopped it (at
        /// `until`: a server that accepted the connection and never finished the handshake).
        func waitReady(until: NIODeadline) throws {
            let loop = ready.futureResult.eventLoop
            loop.execute {
                guard !self.isReady else { return }
                self.readyTimer = loop.scheduleTask(deadline: until) {
                    self.readied(Failure.transport("no TLS handshake before the deadline"))
                }
            }
            try ready.futureResult.wait()
        }

        /// The connection was given up before it was ready (not even made: a name that did not
        /// resolve): the readiness promise is completed all the same.
        func abandon() {
            ready.futureResult.eventLoop.execute { self.readied(Failure.transport("not connected")) }
        }

        /// The connection is ready (nil) or will never be (an error); the first call counts.
        private func readied(_ error: Error?) {
            guard !isReady else { return }
            isReady = true
            readyTimer?.cancel()
            readyTimer = nil
            if let error { ready.fail(error) } else { ready.succeed() }
        }

        private var context: ChannelHandlerContext?
        private var promise: EventLoopPromise<Response>?
        private var status = 0
        private var answered = false
        private var body: ByteBuffer?
        private var limit = 0
        private var deadline = NIODeadline.distantFuture
        private var readTimeout = TimeAmount.seconds(10)
        private var lastRead = NIODeadline.now()
        private var timer: Scheduled<Void>?
        /// What the connection met once ready while no request was waiting (the next one fails
        /// with it).
        private var earlyError: Error?
        /// Whether the last response lets the connection serve another request (read by the
        /// caller once `run` returned: the promise's completion orders it).
        private(set) var keepAlive = true

        /// Sends `head` and `bodyBytes` and waits for the whole response, until `deadline` and for
        /// at most `readTimeout` between two reads; a body over `limit` bytes is an error.
        func run(_ head: HTTPRequestHead, _ bodyBytes: [UInt8]?, on channel: Channel, deadline: NIODeadline,
                 readTimeout: TimeAmount, limit: Int) throws(ExchangeError) -> Response {
            let promise = channel.eventLoop.makePromise(of: Response.self)
            channel.eventLoop.execute { self.start(head, bodyBytes, promise, deadline, readTimeout, limit) }
            do {
                return try promise.futureResult.wait()
            } catch let e as ExchangeError {
                throw e
            } catch {
                throw .failed(Self.classify(error))
            }
        }

        private func start(_ head: HTTPRequestHead, _ bodyBytes: [UInt8]?, _ promise: EventLoopPromise<Response>,
                           _ deadline: NIODeadline, _ readTimeout: TimeAmount, _ limit: Int) {
            guard let context, context.channel.isActive else {
                promise.fail(earlyError.map { ExchangeError.failed(Self.classify($0)) } ?? .closedUnanswered("connection closed"))
                return
            }
            (self.promise, self.deadline, self.readTimeout, self.limit) = (promise, deadline, readTimeout, limit)
            (status, answered, body, keepAlive, lastRead) = (0, false, nil, true, .now())
            arm(at: min(deadline, lastRead + readTimeout))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if let bodyBytes, !bodyBytes.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bodyBytes)))), promise: nil)
            }
            let sent = context.eventLoop.makePromise(of: Void.self)
            sent.futureResult.whenFailure { error in self.fail(self.exchangeError(error)) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        }

        /// One timer per request, not one per read: when it fires early it moves on to the last
        /// read's timeout.
        private func arm(at when: NIODeadline) {
            timer = context?.eventLoop.scheduleTask(deadline: when) {
                guard self.promise != nil else { return }
                let due = min(self.deadline, self.lastRead + self.readTimeout)
                if due > .now() { return self.arm(at: due) }
                let what = due == self.deadline ? "before the request's deadline" : "within \(self.readTimeout.nanoseconds / 1_000_000) ms"
                self.fail(.failed(.transport("no answer \(what)")))
                self.context?.close(promise: nil)
            }
        }

        private func fail(_ error: ExchangeError) {
            timer?.cancel()
            timer = nil
            let p = promise
            (promise, body) = (nil, nil)
            p?.fail(error)
        }

        /// TLS errors are the TLS settings' (an untrusted certificate, a name it does not hold):
        /// not worth another try. A peer that went away during the handshake is the transport's.
        static func classify(_ error: Error) -> Failure {
            if let f = error as? Failure { return f }
            if let e = error as? NIOSSLError {
                if e == .handshakeFailed(.sslError([.eofDuringHandshake])) || e == .uncleanShutdown {
                    return .transport("connection closed during the TLS handshake")
                }
                return .tls("\(error)")
            }
            if error is BoringSSLError || error is NIOSSLExtraError { return .tls("\(error)") }
            return .transport("\(error)")
        }

        /// What an error means for the request in flight: reset with the request unread (a server
        /// that had just closed a kept-alive connection resets it when our request arrives) is as
        /// closed unanswered.
        private func exchangeError(_ error: Error) -> ExchangeError {
            !answered && Self.isReset(error) ? .closedUnanswered("connection reset") : .failed(Self.classify(error))
        }

        /// A reset or a broken pipe: the peer closed the connection with our data unread.
        static func isReset(_ error: Error) -> Bool {
            guard let e = error as? IOError else { return false }
            return e.errnoCode == ECONNRESET || e.errnoCode == EPIPE
        }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func handlerRemoved(context: ChannelHandlerContext) {
            self.context = nil
            readied(Failure.transport("connection closed"))
        }

        func channelActive(context: ChannelHandlerContext) {
            if !secure { readied(nil) }
            context.fireChannelActive()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? TLSUserEvent, case .handshakeCompleted = e { readied(nil) }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard promise != nil else { return }
            lastRead = .now()
            switch unwrapInboundIn(data) {
            case .head(let h):
                (answered, status, keepAlive) = (true, Int(h.status.code), h.isKeepAlive)
            case .body(var part):
                if body == nil { body = part } else { body!.writeBuffer(&part) }
                if body!.readableBytes > limit {
                    fail(.failed(.transport("a response over \(limit) bytes")))
                    context.close(promise: nil)
                }
            case .end:
                timer?.cancel()
                timer = nil
                let p = promise
                let bytes = body.map { Array($0.readableBytesView) } ?? []
                (promise, body) = (nil, nil)
                p?.succeed(Response(status: status, body: bytes))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            readied(Failure.transport("connection closed before it was ready"))
            fail(answered ? .failed(.transport("connection closed during the response")) : .closedUnanswered("connection closed"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            readied(error)
            // A peer that closes without TLS's close_notify: the close that follows decides
            // (unanswered, or cut off during the response), as for a plain connection.
            if case NIOSSLError.uncleanShutdown = error { return }
            if promise == nil { earlyError = earlyError ?? error } else { fail(exchangeError(error)) }
            context.close(promise: nil)
        }
    }
}
