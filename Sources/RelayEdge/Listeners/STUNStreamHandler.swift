import EdgeSupport
import NIOCore
import STUN
import TURN

/// One STUN/TURN-over-TCP connection: Binding requests are answered here, everything else goes to the TURN edge.
/// Closes on idleness, on bytes that are neither STUN nor ChannelData, or when the connection limit was reached.
final class STUNStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: BindingResponder
    private let counters: STUNCounters
    private let connections: ConnectionLimiter
    private let turn: TURNEdgeHandle?
    private var ticket: ConnectionLimiter.Ticket?
    private var fiveTuple: FiveTuple?

    init(responder: BindingResponder, counters: STUNCounters, connections: ConnectionLimiter, turn: TURNEdgeHandle?) {
        self.responder = responder
        self.counters = counters
        self.connections = connections
        self.turn = turn
    }

    func channelActive(context: ChannelHandlerContext) {
        // STUN over TCP has no way to say "too many": over either bound the connection is closed at once.
        guard case .success(let ticket) = connections.admit(context.remoteAddress) else {
            counters.tcpRefused.wrappingIncrement(ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        self.ticket = ticket
        counters.tcpConnections.wrappingIncrement(ordering: .relaxed)
        if let remote = context.remoteAddress.flatMap(TransportAddress.init),
           let local = context.localAddress.flatMap(TransportAddress.init) {
            let fiveTuple = FiveTuple(client: remote, server: local, transport: .tcp)
            self.fiveTuple = fiveTuple
            turn?.tcpConnectionOpened(fiveTuple, channel: context.channel)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let ticket {
            connections.release(ticket)
            counters.tcpConnections.wrappingDecrement(ordering: .relaxed)
            self.ticket = nil
        }
        if let fiveTuple { turn?.tcpConnectionClosed(fiveTuple) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let fiveTuple else { return }
        let bytes = unwrapInboundIn(data)
        let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) ?? 0
        if ChannelData.looksLikeChannelData(first) {
            turn?.clientChannelData(bytes, from: fiveTuple)
            return
        }
        var out = context.channel.allocator.buffer(capacity: 256)
        let decision: BindingResponder.Decision
        do {
            let message = try STUNMessage(decoding: bytes, options: .init(acceptClassic: true))
            if message.type.method != .binding, let turn {
                turn.clientMessage(message, from: fiveTuple)
                return
            }
            guard message.type.messageClass == .request, message.type.method == .binding else {
                counters.dropped.wrappingIncrement(ordering: .relaxed)
                return
            }
            decision = responder.handle(message, from: fiveTuple.client, receivedOn: .primary, localAddress: fiveTuple.server,
                                        transport: .tcp, into: &out)
        } catch {
            decision = responder.answerUndecodable(bytes, error: error, from: fiveTuple.client, socket: .primary, into: &out)
        }
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
