import NIOCore
import STUN
import TURN

/// Reply routes of an RFC 5780 server: the channel of each of the (up to) four sockets, by `ResponderSocket.index`.
struct ResponderChannels: Sendable {
    var channels: [Channel?] = [nil, nil, nil, nil]
}

/// One STUN/TURN UDP socket. Binding requests go to the `BindingResponder` and are answered from the socket it
/// names; every other STUN message and all ChannelData go to the TURN edge. Replies are written as they are
/// produced and flushed once per read burst so NIO can batch them.
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
    private var pendingFlush = false
    let counters: STUNCounters

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

        var out = context.channel.allocator.buffer(capacity: 256)
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
                                        transport: .udp, into: &out)
        } catch {
            decision = responder.answerUndecodable(envelope.data, error: error, from: source, socket: socket, into: &out)
        }
        switch decision {
        case .respond(let from, let to):
            counters.responses.wrappingIncrement(ordering: .relaxed)
            let reply = AddressedEnvelope(remoteAddress: to.socketAddress, data: out)
            if from == socket {
                context.write(wrapOutboundOut(reply), promise: nil)
                pendingFlush = true
            } else if let channel = routes.channels[from.index] {
                channel.writeAndFlush(reply, promise: nil)
            }
        case .drop:
            drop()
        }
    }

    private func drop() {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        turn?.flushPending()
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port-unreachable for an earlier reply surfaces here as ECONNREFUSED; a UDP server carries on.
    }
}
