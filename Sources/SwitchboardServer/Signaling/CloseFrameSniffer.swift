import Atomics
import NIOCore
import NIOWebSocket

/// Notes the code of the close frame a WebSocket client sends, which HummingbirdWebSocket does not hand to the
/// route: 1000/1001 end a session at once, anything else (or no close frame at all) leaves it resumable.
///
/// It also keeps its pipeline context, so `WebSocketFrameWriter` can write frames from here: only the frame encoder
/// lies between this handler and the socket. `context` is touched only on the channel's event loop.
final class CloseFrameSniffer: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// 0 until a close frame arrives, then its code (1005 when it carried none).
    let code = ManagedAtomic<Int>(0)
    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            let received = payload.readInteger(as: UInt16.self).map(Int.init) ?? 1005
            code.store(received, ordering: .relaxed)
        }
        context.fireChannelRead(data)
    }

    /// Set when the frame decoder rejected the stream (an oversized frame, bad framing): the session is over.
    let violation = ManagedAtomic<Bool>(false)

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketError { violation.store(true, ordering: .relaxed) }
        context.fireErrorCaught(error)
    }

    var sawViolation: Bool { violation.load(ordering: .relaxed) }

    var sawCleanClose: Bool {
        let value = code.load(ordering: .relaxed)
        return value == 1000 || value == 1001
    }

    /// Inserts the sniffer right after the frame decoder.
    static func install(on channel: any Channel) async -> CloseFrameSniffer? {
        let sniffer = CloseFrameSniffer()
        let installed = try? await channel.eventLoop.submit {
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(sniffer, position: .after(decoder.handler))
        }.get()
        return installed == nil ? nil : sniffer
    }
}
