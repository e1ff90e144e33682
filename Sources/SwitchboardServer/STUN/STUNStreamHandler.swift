import NIOCore
import STUN

/// One STUN-over-TCP connection: answers each framed request on the same connection, and closes it on idleness,
/// on bytes that are not STUN, or when the connection limit was already reached.
final class STUNStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: BindingResponder
    private let counters: STUNCounters
    private let maxConnections: Int
    private var counted = false
    private var remote: TransportAddress?
    private var local: TransportAddress?

    init(responder: BindingResponder, counters: STUNCounters, maxConnections: Int) {
        self.responder = responder
        self.counters = counters
        self.maxConnections = maxConnections
    }

    func channelActive(context: ChannelHandlerContext) {
        let open = counters.tcpConnections.wrappingIncrementThenLoad(ordering: .relaxed)
        counted = true
        guard open <= maxConnections else {
            counters.tcpRefused.wrappingIncrement(ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        remote = context.remoteAddress.flatMap(TransportAddress.init)
        local = context.localAddress.flatMap(TransportAddress.init)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counters.tcpConnections.wrappingDecrement(ordering: .relaxed)
            counted = false
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let remote else { return }
        var out = context.channel.allocator.buffer(capacity: 256)
        let decision = responder.handle(unwrapInboundIn(data), from: remote, receivedOn: .primary, localAddress: local,
                                        transport: .tcp, into: &out)
        if case .respond = decision {
            counters.responses.wrappingIncrement(ordering: .relaxed)
            context.write(wrapOutboundOut(out), promise: nil)
        } else {
            counters.dropped.wrappingIncrement(ordering: .relaxed)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
