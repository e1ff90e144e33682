import NIOCore
import NIOWebSocket
import Signaling

/// One signaling WebSocket, as the last handler of its channel, after NIOWebSocket's frame decoder
/// (`SignalingWebSocketUpgrader` builds the pipeline).
///
/// Every frame takes one way in and one way out. In: decoded frame → `WebSocketMessageReader` → `channelRead` here
/// → the hub (`SignalingHub.connectionEvent`), on the hub's loop at once or batched through that loop's
/// `InboundHandoff`. Out: the hub's `LoopOutbox` for this connection's loop → `deliver` here, which frames the text
/// itself (`ServerFrameBytes`) → the socket.
/// Pings, pongs and the close handshake stay here; so does authentication (the URL's token, or an `auth` first
/// frame within `authWait`), which has to finish before a session is attached.
///
/// All state is touched on the channel's event loop only.
final class WebSocketConnection: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked: the hub holds connections as addresses and reaches them only through `LoopOutbox`, on `loop`;
    // `isWritable` reads the channel's own thread-safe flag.
    typealias InboundIn = WebSocketFrame
    /// Whole frames, header included (`ServerFrameBytes`): there is no frame encoder in the pipeline.
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// No token in the URL and one is required: the first frame must be `auth`.
        case awaitingAuthFrame
        /// The token is being checked or the hub is attaching the session; the client's frames wait here.
        case pending(held: [String])
        case attached(session: String, id: UInt64)
        /// The connection is closing or closed, or the hub has let go of it: nothing more goes to the hub.
        case ended
    }

    /// Text frames held while the session is attached; reads stop meanwhile, so only a client that packs more
    /// than this into the frames of one read gets here.
    static let heldLimit = 256
    static let authWait: TimeAmount = .seconds(10)
    /// How long the client has to answer our close frame before the socket is closed under it.
    static let closeTimeout: TimeAmount = .seconds(5)

    let loop: any EventLoop
    private let channel: any Channel
    private let hub: SignalingHub
    private let verifier: SignalingTokenVerifier
    private let limits: SignalingLimits
    private let request: WebSocketUpgradeRequest
    private var reader: WebSocketMessageReader
    private var phase = Phase.awaitingAuthFrame
    private var context: ChannelHandlerContext?
    /// The auth wait, then the close handshake's timeout.
    private var timer: Scheduled<Void>?
    private var heartbeat: RepeatedTask?
    private var pongAwaited = false
    private var closeSent = false
    /// The code of the client's close frame (1005 when it had none); 1000 and 1001 end the session at once.
    private var clientCloseCode: UInt16?
    /// Set while a `LoopOutbox` delivery has written to this connection and not yet flushed it.
    private var flushPending = false
    /// A ping that came while the client was not reading, answered once it reads again. RFC 6455 §5.5.3 lets an
    /// endpoint answer only the latest of several pings: a client that pings without reading holds one pong here,
    /// not a queue of them in the channel.
    private var pongOwed: ByteBuffer?
    /// A heartbeat found the client not reading: its ping goes out once it reads again. Still not reading at the next
    /// beat, a whole period later, it is closed.
    private var pingOwed = false

    init(channel: any Channel, hub: SignalingHub, verifier: SignalingTokenVerifier, limits: SignalingLimits,
         request: WebSocketUpgradeRequest) {
        self.channel = channel
        self.loop = channel.eventLoop
        self.hub = hub
        self.verifier = verifier
        self.limits = limits
        self.request = request
        self.reader = WebSocketMessageReader(maxMessageBytes: limits.maxFrameBytes * 2)
    }

    /// Read by the hub on its own loop: a client that stops reading fills the channel past its high-water mark.
    var isWritable: Bool { channel.isWritable }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let period = TimeAmount.seconds(Int64(limits.heartbeat))
        // Timers hold the connection strongly and are cancelled when it leaves the pipeline (`stopTimers`): a weak
        // reference would give the connection a side table, and every retain of it, per frame, the slow path.
        heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            self.beat()
        }
        if let refusal = request.refusal { return sendClose(refusal) }
        if request.token != nil || verifier.isOpen {
            authenticate(request.token)
        } else {
            timer = context.eventLoop.scheduleTask(in: Self.authWait) {
                guard case .awaitingAuthFrame = self.phase else { return }
                self.sendClose(.authRequired)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        if case .attached(let session, let id) = phase {
            let clean = clientCloseCode == 1000 || clientCloseCode == 1001
            hub.connectionEvent(.ended(session: session, connection: id, clean: clean), from: loop)
        }
        phase = .ended
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server is shutting down. Attached sessions are closed by the hub; the rest are closed here.
        if event is ChannelShouldQuiesceEvent {
            if case .attached = phase { return }
            return sendClose(.goingAway)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketError.invalidFrameLength: fail(.frameTooLarge)
        case is NIOWebSocketError: fail(.protocolError("invalid frame"))
        default: context.close(promise: nil)
        }
    }

    private func stopTimers() {
        timer?.cancel()
        timer = nil
        heartbeat?.cancel()
        heartbeat = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After the client's close frame nothing more may come (RFC 6455 §5.5.1).
        guard clientCloseCode == nil else { return }
        switch reader.read(unwrapInboundIn(data)) {
        case .failure(let reason):
            fail(reason)
        case .success(.partial):
            break
        case .success(.ping(let payload)):
            guard !closeSent else { return }
            guard context.channel.isWritable else {
                // A copy: the payload is a slice of the read buffer, which it would otherwise keep.
                pongOwed = ByteBuffer(bytes: payload.readableBytesView)
                return
            }
            writePong(payload, context: context)
        case .success(.pong):
            pongAwaited = false
        case .success(.close(let code)):
            clientClosed(code, context: context)
        case .success(.binary):
            fail(.binaryFrame)
        case .success(.text(let text)):
            received(text)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !closeSent {
            if let payload = pongOwed {
                pongOwed = nil
                writePong(payload, context: context)
            }
            if pingOwed {
                pingOwed = false
                writePing(context: context)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    private func writePong(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        let pong = ServerFrameBytes.frame(.pong, payload: payload, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
    }

    private func received(_ text: String) {
        switch phase {
        case .awaitingAuthFrame:
            timer?.cancel()
            timer = nil
            guard case .success(.auth(let token)) = ReceivedFrame.parse(text, limits: limits).frame else {
                return sendClose(.authRequired)
            }
            authenticate(token)
        case .pending(var held):
            guard held.count < Self.heldLimit else { return fail(.flood) }
            phase = .ended  // drops the enum's reference to the array, so the append does not copy it
            held.append(text)
            phase = .pending(held: held)
        case .attached(let session, let id):
            hub.connectionEvent(.text(text, session: session, connection: id), from: loop)
        case .ended:
            break
        }
    }

    /// The client's close frame: answered with its own code, then the socket closes. If we had sent ours first,
    /// this is the answer and the socket closes now.
    private func clientClosed(_ code: UInt16?, context: ChannelHandlerContext) {
        clientCloseCode = code ?? 1005
        guard !closeSent else {
            context.close(promise: nil)
            return
        }
        closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        if let code { payload.writeInteger(code) }
        let close = ServerFrameBytes.frame(.connectionClose, payload: payload, allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in context.close(promise: nil) }
        closeWithin(Self.closeTimeout, context: context)
    }

    /// Closes the socket after `delay` if it is still open: a close frame written to a client that reads nothing
    /// never finishes, and the connection would keep its slot and what it queued.
    private func closeWithin(_ delay: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.scheduleTask(in: delay) { self.context?.close(promise: nil) }
    }

    // MARK: Authentication and attaching

    private func authenticate(_ token: String?) {
        phase = .pending(held: [])
        setReading(false)
        if verifier.isOpen { return attach(identity: nil) }
        let verifier = self.verifier
        Task {
            let result = await verifier.check(token)
            self.loop.execute {
                guard case .pending = self.phase else { return }
                switch result {
                case .success(let identity): self.attach(identity: identity)
                case .failure(let reason): self.sendClose(reason)
                }
            }
        }
    }

    private func attach(identity: Identity?) {
        hub.attach(identity: identity, resume: request.resume, host: request.host, connection: self) { result in
            self.attached(result)
        }
    }

    private func attached(_ result: Result<(session: String, connection: UInt64), SignalingCloseReason>) {
        guard case .pending(let held) = phase else {
            // The connection ended while the hub attached it: the session stays resumable.
            if case .success(let (session, id)) = result {
                hub.connectionEvent(.ended(session: session, connection: id, clean: false), from: loop)
            }
            return
        }
        switch result {
        case .failure(let reason):
            sendClose(reason)
        case .success(let (session, id)):
            phase = .attached(session: session, id: id)
            for text in held { hub.connectionEvent(.text(text, session: session, connection: id), from: loop) }
            setReading(true)
        }
    }

    private func setReading(_ on: Bool) {
        guard let context else { return }
        _ = context.channel.setOption(ChannelOptions.autoRead, value: on)
        if on { context.read() }
    }

    // MARK: Outbound (the hub's deliveries, and our own closes)

    /// Writes one of the hub's deliveries; true when the connection must be flushed at the end of the batch.
    func deliver(_ delivery: LoopOutbox.Delivery) -> Bool {
        switch delivery {
        case .text(let text):
            guard !closeSent, let context else { return false }
            context.write(wrapOutboundOut(ServerFrameBytes.text(text, allocator: context.channel.allocator)), promise: nil)
            guard !flushPending else { return false }
            flushPending = true
            return true
        case .close(let reason):
            // The hub has let go of the session already.
            phase = .ended
            sendClose(reason)
            return false
        }
    }

    func flushDelivered() {
        flushPending = false
        context?.flush()
    }

    /// Our close frame; the client has `closeTimeout` to answer before the socket is closed.
    private func sendClose(_ reason: SignalingCloseReason) {
        if case .attached = phase {
            // Not expected: closes of attached sessions come from the hub, which has let go of them first.
            phase = .ended
        }
        guard !closeSent, let context else { return }
        closeSent = true
        phase = .ended
        context.writeAndFlush(wrapOutboundOut(closeFrame(reason, allocator: context.channel.allocator)), promise: nil)
        closeWithin(Self.closeTimeout, context: context)
    }

    /// A protocol violation: our close frame with its code, then the socket at once. The hub ends the session.
    private func fail(_ reason: SignalingCloseReason) {
        if case .attached(let session, let id) = phase {
            hub.connectionEvent(.violated(session: session, connection: id, reason: reason), from: loop)
        }
        phase = .ended
        guard let context else { return }
        guard !closeSent else {
            context.close(promise: nil)
            return
        }
        closeSent = true
        context.writeAndFlush(wrapOutboundOut(closeFrame(reason, allocator: context.channel.allocator)))
            .whenComplete { _ in context.close(promise: nil) }
        closeWithin(Self.closeTimeout, context: context)
    }

    private func closeFrame(_ reason: SignalingCloseReason, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = allocator.buffer(capacity: 2 + reason.reason.utf8.count)
        payload.writeInteger(reason.code)
        payload.writeString(reason.reason)
        return ServerFrameBytes.frame(.connectionClose, payload: payload, allocator: allocator)
    }

    /// Every heartbeat a ping; a client that has not answered the previous one is gone (its session stays
    /// resumable).
    private func beat() {
        guard !closeSent, let context else { return }
        if pongAwaited {
            context.close(promise: nil)
            return
        }
        guard context.channel.isWritable else {
            // Nothing more is queued for a client that is not reading; one that reads nothing for a period is gone.
            if pingOwed { context.close(promise: nil) }
            pingOwed = true
            return
        }
        pingOwed = false
        writePing(context: context)
    }

    private func writePing(context: ChannelHandlerContext) {
        pongAwaited = true
        context.writeAndFlush(wrapOutboundOut(ServerFrameBytes.frame(.ping, payload: ByteBuffer(), allocator: context.channel.allocator)),
                              promise: nil)
    }
}
