import EdgeSupport
import NIOCore
import STUN
import TURN

/// One STUN/TURN connection over a stream transport (TCP, or TLS behind a TLS handler), fed whole messages by
/// `STUNStreamFramer`. `STUNDemultiplexer` sorts them: Binding requests and the challenge to an Allocate without
/// credentials (`StreamChallenger`) are answered here, everything else goes to the TURN edge. Closes on idleness, on
/// bytes that are neither STUN nor ChannelData, or when the connection limit was reached.
final class STUNStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let demultiplexer: STUNDemultiplexer<TURNEdgeHandle>
    private let challenger: StreamChallenger?
    private let counters: STUNCounters
    private let connections: ConnectionLimiter
    private let transport: ClientTransport
    private var ticket: ConnectionLimiter.Ticket?
    private var fiveTuple: FiveTuple?
    /// TURN messages of the current read, handed to the edge's loop together at its end (one task per read rather
    /// than one per message); `sheddable` while it holds ChannelData only.
    private var forTURN: [StreamClientInput] = []
    private var forTURNSheddable = true
    /// Whether the TURN edge knows this connection: it learns of it with the first hand-over, not at accept.
    private var announced = false
    /// The channels the core routed to this connection's thread, made with the first hand-over.
    private var routes: StreamChannelRoutes?
    /// Fewer reads per turn while the client floods its thread with STUN messages or stops reading the answers.
    private var throttle = StreamReadThrottle()

    init(responder: BindingResponder, counters: STUNCounters, connections: ConnectionLimiter, turn: TURNEdgeHandle?,
         challenger: StreamChallenger?, transport: ClientTransport) {
        precondition(transport.isStream, "STUNStreamHandler serves stream transports only")
        demultiplexer = STUNDemultiplexer(responder: responder, turn: turn, counters: counters)
        self.counters = counters
        self.challenger = challenger
        self.connections = connections
        self.transport = transport
    }

    /// The one-port mux hands over connections that are active already.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    private func admit(context: ChannelHandlerContext) {
        guard ticket == nil, fiveTuple == nil else { return }
        // STUN over TCP has no way to say "too many": over either bound the connection is closed at once.
        guard case .success(let ticket) = connections.admit(context.channel.remoteAddress) else {
            counters.tcpRefused.wrappingIncrement(ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        self.ticket = ticket
        counters.tcpConnections.wrappingIncrement(ordering: .relaxed)
        // The channel's addresses, cached at accept; the context's would ask the kernel again.
        if let remote = context.channel.remoteAddress.flatMap(TransportAddress.init),
           let local = context.channel.localAddress.flatMap(TransportAddress.init) {
            fiveTuple = FiveTuple(client: remote, server: local, transport: transport)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let ticket {
            connections.release(ticket)
            counters.tcpConnections.wrappingDecrement(ordering: .relaxed)
            self.ticket = nil
        }
        // What the last read brought goes first: the edge must see it before the connection's end.
        routes?.flush()
        handOverToTURN(context: context)
        if announced, let fiveTuple { demultiplexer.turn?.tcpConnectionClosed(fiveTuple) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let fiveTuple else { return }
        let bytes = unwrapInboundIn(data)
        switch demultiplexer.route(bytes) {
        case .channelData:
            // Behind a request of the same read, ChannelData waits for it in order (a Refresh may delete the route).
            if forTURNSheddable, let routes, routes.send(bytes) { break }
            forTURN.append(.channelData(bytes))
        case .turn(let message, _):
            throttle.stunMessageRead()
            // Stateless, so it needs no place in the order of what goes to the edge.
            if let challenger, challenger.answers(message) {
                counters.streamChallenges.wrappingIncrement(ordering: .relaxed)
                writeAnswer(challenger.makeChallenge(to: message, from: fiveTuple.client), context: context)
                break
            }
            forTURN.append(.message(message))
            forTURNSheddable = false
        case .answer(let answer):
            throttle.stunMessageRead()
            var out = context.channel.allocator.buffer(capacity: 256)
            let decision = demultiplexer.answer(answer, to: bytes, from: fiveTuple.client, receivedOn: .primary,
                                                localAddress: fiveTuple.server, transport: transport, into: &out)
            if case .respond = decision {
                counters.responses.wrappingIncrement(ordering: .relaxed)
                writeAnswer(out, context: context)
            }
        case .drop:
            // STUN messages start with two zero bits, ChannelData (dropped here only when there is no TURN) with 01.
            if let first = bytes.readableBytesView.first, first & 0xC0 == 0 { throttle.stunMessageRead() }
        }
    }

    /// An answer made on this thread, unless the client has stopped reading: SwiftNIO never refuses a write, so a
    /// client that pipelines requests and reads nothing would otherwise grow its outbound buffer without bound.
    /// Dropped and counted instead, as the TURN edge drops what it has for an unwritable connection. The answer is
    /// made only when it will be written: a client that pipelines Allocates and reads nothing costs the thread little
    /// once it stops draining.
    private func writeAnswer(_ answer: @autoclosure () -> ByteBuffer, context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            answerDropped(context: context)
            return
        }
        context.write(wrapOutboundOut(answer()), promise: nil)
    }

    private func answerDropped(context: ChannelHandlerContext) {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
        throttle.answerDropped(on: context.channel)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        throttle.writabilityChanged(on: context.channel)
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if throttle.readCompleteMatters { throttle.readComplete(on: context.channel) }
        routes?.flush()
        handOverToTURN(context: context)
        context.flush()
    }

    private func handOverToTURN(context: ChannelHandlerContext) {
        guard !forTURN.isEmpty else { return }
        if let turn = demultiplexer.turn, let fiveTuple {
            var opening: StreamClientConnection?
            if !announced {
                let routes = StreamChannelRoutes(eventLoop: context.eventLoop, clock: turn.clock) { turn.streamRoutesForwarded($0) }
                self.routes = routes
                opening = StreamClientConnection(channel: context.channel,
                                                 routes: NIOLoopBound(routes, eventLoop: context.eventLoop))
                announced = true
            }
            turn.clientInput(forTURN, from: fiveTuple, opening: opening, sheddable: forTURNSheddable)
        }
        forTURN = []
        forTURNSheddable = true
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
