import Atomics
import NIOCore
import NIOWebSocket
import Signaling

/// Sits right after the WebSocket frame decoder of a signaling connection and does three jobs there:
///
/// - notes the code of the client's close frame, which HummingbirdWebSocket does not hand to the route (1000/1001
///   end a session at once, anything else leaves it resumable), and whether the decoder rejected the stream;
/// - keeps its pipeline context, so `WebSocketFrameWriter` writes frames past only the frame encoder;
/// - once the session is attached, hands whole text frames to the hub itself. Through HummingbirdWebSocket's async
///   inbound stream every frame cost a task resumption and a trip through the concurrency runtime: about a fifth of
///   the signaling loop at 25,000 frames/s in `perf`.
///
/// Order is kept across the switch: `beginDirect` sends a marker message up the async stream behind every frame
/// already passed up, and holds the client's text frames until the route's reader reaches the marker and calls
/// `release`. Fragmented or binary messages (rare, and binary is a violation) make the tap pass everything up from
/// then on, in order. Everything here runs on the channel's event loop.
final class WebSocketFrameTap: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Route {
        /// Frames go up to the route's reader (authentication, and the fallback).
        case passing
        /// The marker is on its way up; the client's frames wait here.
        case holding(marker: String, deliver: (String) -> Void, held: [WebSocketFrame])
        case direct((String) -> Void)
    }

    /// Frames held between `beginDirect` and `release`; a client that sends more gets the async path instead.
    static let holdLimit = 256

    /// 0 until a close frame arrives, then its code (1005 when it carried none).
    let code = ManagedAtomic<Int>(0)
    /// 0, or the close code of the protocol violation that ended the connection (the decoder's or ours).
    let violationCode = ManagedAtomic<Int>(0)
    private var conformance: WebSocketConformance
    private var closing = false
    private(set) var context: ChannelHandlerContext?
    private var route = Route.passing

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        if let violation = conformance.check(frame) { return fail(violation, context: context) }
        switch frame.opcode {
        case .connectionClose:
            var payload = frame.unmaskedData
            code.store(payload.readInteger(as: UInt16.self).map(Int.init) ?? 1005, ordering: .relaxed)
        case .text where frame.fin:
            if case .direct(let deliver) = route {
                guard let text = Self.text(of: frame) else { return fail(.invalidText, context: context) }
                return deliver(text)
            }
            // Held or passed up: checked now all the same, so the error comes at the frame that caused it.
            guard Self.text(of: frame) != nil else { return fail(.invalidText, context: context) }
            switch route {
            case .passing, .direct:
                break
            case .holding(let marker, let deliver, var held) where held.count < Self.holdLimit:
                route = .passing  // drops the enum's reference to the array, so the append does not copy it
                held.append(frame)
                route = .holding(marker: marker, deliver: deliver, held: held)
                return
            case .holding:
                passEverythingUp(context: context)
            }
        case .text, .binary, .continuation:
            // A fragmented or binary message: the async reader takes it, and everything after it.
            passEverythingUp(context: context)
        default:
            break
        }
        context.fireChannelRead(data)
    }

    /// Ends the connection for a protocol violation: our close frame with its code, then the socket. The route's
    /// reader sees the connection end and asks `closeReason` why.
    private func fail(_ reason: SignalingCloseReason, context: ChannelHandlerContext) {
        closing = true
        violationCode.store(Int(reason.code), ordering: .relaxed)
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.reason.utf8.count)
        payload.writeInteger(reason.code)
        payload.writeString(reason.reason)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in context.close(promise: nil) }
    }

    /// Falls back to the async reader for good; held frames go up first, so the order stays the client's.
    private func passEverythingUp(context: ChannelHandlerContext) {
        if case .holding(_, _, let held) = route {
            for earlier in held { context.fireChannelRead(wrapInboundOut(earlier)) }
        }
        route = .passing
    }

    init(maxMessageBytes: Int) {
        conformance = WebSocketConformance(maxMessageBytes: maxMessageBytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError, !closing {
            switch error {
            case .invalidFrameLength: return fail(.frameTooLarge, context: context)
            default: return fail(.protocolError("invalid frame"), context: context)
            }
        }
        context.fireErrorCaught(error)
    }

    /// From now on whole text frames go to `deliver`, after `marker` has come out of the async stream.
    func beginDirect(marker: String, deliver: @escaping (String) -> Void) {
        guard let context, case .passing = route else { return }
        route = .holding(marker: marker, deliver: deliver, held: [])
        context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: marker))))
        context.fireChannelReadComplete()
    }

    /// The reader reached the marker: every frame passed up before it has been handled, so the held ones go now.
    func release() {
        guard case .holding(_, let deliver, let held) = route else { return }
        route = .direct(deliver)
        for frame in held { deliver(Self.text(of: frame) ?? "") }
    }

    /// Why the connection was ended for a protocol violation, if it was.
    var violation: SignalingCloseReason? {
        let code = violationCode.load(ordering: .relaxed)
        switch code {
        case 0: return nil
        case 1009: return .frameTooLarge
        case 1007: return .invalidText
        default: return .protocolError("protocol error")
        }
    }

    var sawCleanClose: Bool {
        let value = code.load(ordering: .relaxed)
        return value == 1000 || value == 1001
    }

    /// The frame's text, nil when it is not UTF-8.
    private static func text(of frame: WebSocketFrame) -> String? {
        let data = frame.unmaskedData
        return String(validating: data.readableBytesView, as: UTF8.self)
    }

    /// Inserts the tap right after the frame decoder.
    static func install(on channel: any Channel, maxMessageBytes: Int) async -> WebSocketFrameTap? {
        let tap = WebSocketFrameTap(maxMessageBytes: maxMessageBytes)
        let installed: Void? = try? await channel.eventLoop.submit {
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(tap, position: .after(decoder.handler))
        }.get()
        return installed == nil ? nil : tap
    }
}
