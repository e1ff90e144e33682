import NIOCore
import NIOSSL
import NIOTLS

/// Closes a connection whose TLS handshake has not finished within `limit` of the accept: a client that opens a
/// connection and stalls mid-handshake holds a descriptor and a TLS state, and the idle timeout after it is long.
/// Goes right after the `NIOSSLServerHandler`; removes itself once the handshake is done.
public final class TLSHandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    private let limit: TimeAmount
    private var deadline = ChannelDeadline()

    public init(limit: TimeAmount = .seconds(10)) {
        self.limit = limit
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        deadline.arm(context, in: limit)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        deadline.cancel()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            deadline.cancel()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
