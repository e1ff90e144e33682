import EdgeSupport
import NIOCore

/// The first handler of every HTTP connection: it admits the connection against the listener's bounds, then reads
/// each request's framing before the framework does and answers, then closes, whatever it must not let through.
///
/// - A request head must be complete and well-formed (`HTTPRequestHead`) before any of it goes on; a malformed
///   one gets 400, one over the size or field-count limit 431, a body over its limit 413.
/// - A request (head and body) must arrive within `requestTimeout` of the connection's accept, or of a later
///   request's first byte; a slow or silent client gets 408, or is simply closed if it never sent anything.
/// - A WebSocket upgrade from an origin the `OriginPolicy` does not allow gets 403.
/// - After a WebSocket upgrade head, the bytes are frames and go on unread.
///
/// Hummingbird's own parser errors leave the connection open and unanswered, and its idle timeout only starts
/// after a first request, so without this handler a client could hold a descriptor with one byte for ever.
final class HTTPRequestGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case head(HTTPHeadScanner, pending: ByteBuffer?)
        case body(remaining: Int)
        case chunked(ChunkedBodyScanner)
        /// A WebSocket connection: nothing more to check here.
        case passthrough
        case refused
    }

    private let limits: HTTPRequestLimits
    private let connections: ConnectionLimiter
    private let origins: OriginPolicy
    private var ticket: ConnectionLimiter.Ticket?
    private var state = State.head(HTTPHeadScanner(), pending: nil)
    private var deadline: Scheduled<Void>?
    private var requests = 0

    init(limits: HTTPRequestLimits, connections: ConnectionLimiter, origins: OriginPolicy) {
        self.limits = limits
        self.connections = connections
        self.origins = origins
    }

    func handlerAdded(context: ChannelHandlerContext) {
        switch connections.admit(context.channel.remoteAddress) {
        case .success(let ticket):
            self.ticket = ticket
            armDeadline(context: context)
        case .failure(let reason):
            // Answered once the channel has finished its registration: a write from inside the channel's
            // initializer can be lost, and the client would see a bare close.
            state = .refused
            let refusal: HTTPRefusal = reason == .totalReached ? .serverFull : .tooManyFromAddress
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.execute { Self.answer(refusal, context: loopBound.value) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if let ticket {
            connections.release(ticket)
            self.ticket = nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        while bytes.readableBytes > 0 {
            switch state {
            case .refused:
                return
            case .passthrough:
                context.fireChannelRead(wrapInboundOut(bytes))
                return
            case .head(var scanner, var pending):
                if deadline == nil { armDeadline(context: context) }
                let found = scanner.scan(bytes.readableBytesView)
                if scanner.scanned > limits.maxHeaderBytes {
                    return refuse(.headerTooLarge("request head over \(limits.maxHeaderBytes) bytes"), context: context)
                }
                // The request line and the blank line are lines too.
                if scanner.lines > limits.maxHeaderCount + 6 {
                    return refuse(.headerTooLarge("more than \(limits.maxHeaderCount) header fields"), context: context)
                }
                let slice = bytes.readSlice(length: found ?? bytes.readableBytes)!
                if pending == nil {
                    pending = slice
                } else {
                    pending!.writeImmutableBuffer(slice)
                }
                guard found != nil, let head = pending else {
                    state = .head(scanner, pending: pending)
                    return
                }
                switch HTTPRequestHead.parse(head.readableBytesView, limits: limits) {
                case .failure(let refusal):
                    return refuse(refusal, context: context)
                case .success(let parsed):
                    // The framework can only answer a refused upgrade with a bare 400; the origin check for
                    // WebSocket happens here so the browser gets 403 and a reason.
                    if parsed.upgradesToWebSocket, !origins.permits(origin: parsed.origin, host: parsed.host) {
                        return refuse(.forbiddenOrigin, context: context)
                    }
                    requests += 1
                    context.fireChannelRead(wrapInboundOut(head))
                    if parsed.upgradesToWebSocket {
                        cancelDeadline()
                        state = .passthrough
                        continue
                    }
                    switch parsed.body {
                    case .none: requestComplete()
                    case .length(let length): state = .body(remaining: length)
                    case .chunked: state = .chunked(ChunkedBodyScanner())
                    }
                }
            case .body(let remaining):
                let slice = bytes.readSlice(length: min(remaining, bytes.readableBytes))!
                context.fireChannelRead(wrapInboundOut(slice))
                if remaining == slice.readableBytes {
                    requestComplete()
                } else {
                    state = .body(remaining: remaining - slice.readableBytes)
                }
            case .chunked(var scanner):
                switch scanner.scan(bytes.readableBytesView, limits: limits) {
                case .needsMore:
                    state = .chunked(scanner)
                    context.fireChannelRead(wrapInboundOut(bytes))
                    return
                case .complete(let length):
                    context.fireChannelRead(wrapInboundOut(bytes.readSlice(length: length)!))
                    requestComplete()
                case .refused(let refusal):
                    return refuse(refusal, context: context)
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .refused = state { return }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .refused = state, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        // A client that half-closes before sending anything will never send a request.
        if requests == 0, case .head(let scanner, _) = state, scanner.scanned == 0,
           let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The request is all here: the clock stops until the next one's first byte.
    private func requestComplete() {
        cancelDeadline()
        state = .head(HTTPHeadScanner(), pending: nil)
    }

    private func armDeadline(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64(limits.requestTimeout * 1000))) {
            let (handler, context) = loopBound.value
            handler.deadlinePassed(context: context)
        }
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    private func deadlinePassed(context: ChannelHandlerContext) {
        deadline = nil
        if requests == 0, case .head(let scanner, _) = state, scanner.scanned == 0 {
            // Silent since the accept: nobody to answer.
            state = .refused
            context.close(promise: nil)
        } else {
            refuse(.timeout, context: context)  // does nothing once refused
        }
    }

    /// Answers with `refusal` and closes; what the client sends from here on is dropped.
    private func refuse(_ refusal: HTTPRefusal, context: ChannelHandlerContext) {
        if case .refused = state { return }
        state = .refused
        cancelDeadline()
        Self.answer(refusal, context: context)
    }

    /// Writes the refusal, then closes in two steps: our side at once, the socket after a short linger in which
    /// the client's remaining bytes are read and dropped. Closing while a client is still sending (an 80 KB head)
    /// makes the kernel reset the connection, and the client would lose the answer.
    private static func answer(_ refusal: HTTPRefusal, context: ChannelHandlerContext) {
        let response = context.channel.allocator.buffer(string: refusal.responseBytes)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(response)).whenComplete { result in
            let context = loopBound.value
            guard case .success = result else { return context.close(promise: nil) }
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: lingerTime) { loopBound.value.close(promise: nil) }
        }
    }

    static let lingerTime = TimeAmount.seconds(2)
}
