import Atomics
import NIOCore
import NIOWebSocket

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
    /// Set when the frame decoder rejected the stream (an oversized frame, bad framing): the session is over.
    let violation = ManagedAtomic<Bool>(false)
    private(set) var context: ChannelHandlerContext?
    private var route = Route.passing

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .connectionClose:
            var payload = frame.unmaskedData
            code.store(payload.readInteger(as: UInt16.self).map(Int.init) ?? 1005, ordering: .relaxed)
        case .text where frame.fin && frame.reservedBits.isEmpty:
            switch route {
            case .passing:
                break
            case .holding(let marker, let deliver, var held) where held.count < Self.holdLimit:
                route = .passing  // drops the enum's reference to the array, so the append does not copy it
                held.append(frame)
                route = .holding(marker: marker, deliver: deliver, held: held)
                return
            case .holding:
                passEverythingUp(context: context)
            case .direct(let deliver):
                return deliver(Self.text(of: frame))
            }
        case .text, .binary, .continuation:
            // A fragmented or binary message: the async reader takes it, and everything after it.
            passEverythingUp(context: context)
        default:
            break
        }
        context.fireChannelRead(data)
    }

    /// Falls back to the async reader for good; held frames go up first, so the order stays the client's.
    private func passEverythingUp(context: ChannelHandlerContext) {
        if case .holding(_, _, let held) = route {
            for earlier in held { context.fireChannelRead(wrapInboundOut(earlier)) }
        }
        route = .passing
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketError { violation.store(true, ordering: .relaxed) }
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
        for frame in held { deliver(Self.text(of: frame)) }
    }

    var sawViolation: Bool { violation.load(ordering: .relaxed) }

    var sawCleanClose: Bool {
        let value = code.load(ordering: .relaxed)
        return value == 1000 || value == 1001
    }

    private static func text(of frame: WebSocketFrame) -> String {
        let data = frame.unmaskedData
        return String(decoding: data.readableBytesView, as: UTF8.self)
    }

    /// Inserts the tap right after the frame decoder.
    static func install(on channel: any Channel) async -> WebSocketFrameTap? {
        let tap = WebSocketFrameTap()
        let installed: Void? = try? await channel.eventLoop.submit {
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(tap, position: .after(decoder.handler))
        }.get()
        return installed == nil ? nil : tap
    }
}
