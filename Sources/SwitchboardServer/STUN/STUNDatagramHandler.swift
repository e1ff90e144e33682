import NIOCore
import STUN
import TURN

/// Reply routes of an RFC 5780 server: the channel of each of the (up to) four sockets, by `ResponderSocket.index`.
struct ResponderChannels: Sendable {
    var channels: [Channel?] = [nil, nil, nil, nil]
}

/// One STUN/TURN UDP socket. Binding requests go to the `BindingResponder` and are answered from the socket it
/// names; every other STUN message and all ChannelData go to the TURN edge.
///
/// Binding responses of one read burst go into one `DatagramBatch`, sent when the burst ends: no allocation per
/// response. A response to the request's own source reuses the `SocketAddress` NIO read, rather than building one.
final class STUNDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let responder: BindingResponder
    private let socket: ResponderSocket
    /// The socket's own address when it is bound to a concrete IP; nil for a wildcard bind (then packet info tells).
    private let boundAddress: TransportAddress?
    private let wildcardAddress: TransportAddress?
    private let turn: TURNEdge?
    var routes = ResponderChannels()
    let counters: STUNCounters
    private var replies = DatagramBatch(capacity: 16 * 1024)
    /// The sockets this burst's replies were written on (more than this one only for RFC 5780 CHANGE-REQUEST).
    private var unflushed: [any Channel] = []

    init(responder: BindingResponder, socket: ResponderSocket, boundAddress: TransportAddress, turn: TURNEdge?,
         counters: STUNCounters) {
        self.responder = responder
        self.socket = socket
        self.boundAddress = boundAddress.ip.isUnspecified ? nil : boundAddress
        self.wildcardAddress = boundAddress.ip.isUnspecified ? boundAddress : nil
        self.turn = turn
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let source = TransportAddress(envelope.remoteAddress),
              let first = envelope.data.getInteger(at: envelope.data.readerIndex, as: UInt8.self) else { return }
        var localAddress = boundAddress
        if localAddress == nil, let destination = envelope.metadata?.packetInfo?.destinationAddress {
            localAddress = TransportAddress(destination).map { TransportAddress(ip: $0.ip, port: wildcardAddress?.port ?? $0.port) }
        }
        let server = localAddress ?? wildcardAddress!

        if ChannelData.looksLikeChannelData(first) {
            guard let turn else { return drop() }
            turn.clientChannelData(envelope.data, from: FiveTuple(client: source, server: server, transport: .udp),
                                   via: context.channel)
            return
        }

        let start = replies.bytes.writerIndex
        if envelope.data.readableBytes >= STUNMessage.headerLength,
           envelope.data.getInteger(at: envelope.data.readerIndex, as: UInt16.self) == 0x0001 {
            // A Binding request: scanned in place, answered into this burst's reply buffer.
            let decision = responder.handle(envelope.data, from: source, receivedOn: socket, localAddress: localAddress,
                                            transport: .udp, into: &replies.bytes)
            return queue(decision, start: start, source: source, sourceAddress: envelope.remoteAddress, context: context)
        }

        let decision: BindingResponder.Decision
        do {
            let message = try STUNMessage(decoding: envelope.data, options: .init(acceptClassic: true))
            if message.type.method != .binding, let turn {
                turn.clientMessage(message, from: FiveTuple(client: source, server: server, transport: .udp),
                                   via: context.channel)
                return
            }
            guard message.type.messageClass == .request, message.type.method == .binding else { return drop() }
            decision = responder.handle(message, from: source, receivedOn: socket, localAddress: localAddress,
                                        transport: .udp, into: &replies.bytes)
        } catch {
            decision = responder.answerUndecodable(envelope.data, error: error, from: source, socket: socket,
                                                   into: &replies.bytes)
        }
        queue(decision, start: start, source: source, sourceAddress: envelope.remoteAddress, context: context)
    }

    private func queue(_ decision: BindingResponder.Decision, start: Int, source: TransportAddress,
                       sourceAddress: SocketAddress, context: ChannelHandlerContext) {
        switch decision {
        case .respond(let from, let to):
            let channel = from == socket ? context.channel : routes.channels[from.index]
            guard let channel else { return replies.discard(from: start) }
            counters.responses.wrappingIncrement(ordering: .relaxed)
            replies.commit(from: start, to: to == source ? sourceAddress : to.socketAddress, via: channel)
        case .drop:
            replies.discard(from: start)
            drop()
        }
    }

    private func drop() {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        turn?.flushPending()
        guard !replies.isEmpty else { return }
        replies.write { channel in
            if !unflushed.contains(where: { $0 === channel }) { unflushed.append(channel) }
        }
        for channel in unflushed { channel.flush() }
        unflushed.removeAll(keepingCapacity: true)
        replies.reset()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port-unreachable for an earlier reply surfaces here as ECONNREFUSED; a UDP server carries on.
    }
}
