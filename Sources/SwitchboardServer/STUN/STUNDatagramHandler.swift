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
/// Binding responses of one read burst are written back to back into one reused buffer and handed to NIO as slices
/// of it when the burst ends, then flushed together so NIO sends them with one `sendmmsg`: no allocation per
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
    private var pendingFlush = false
    let counters: STUNCounters
    /// This burst's Binding responses, back to back; `replies` says where each one is and where it goes.
    private var replyBytes: ByteBuffer
    private var replies: [PendingReply] = []

    private struct PendingReply {
        var destination: SocketAddress
        var start: Int
        var length: Int
        var from: ResponderSocket
    }

    init(responder: BindingResponder, socket: ResponderSocket, boundAddress: TransportAddress, turn: TURNEdge?,
         counters: STUNCounters) {
        self.responder = responder
        self.socket = socket
        self.boundAddress = boundAddress.ip.isUnspecified ? nil : boundAddress
        self.wildcardAddress = boundAddress.ip.isUnspecified ? boundAddress : nil
        self.turn = turn
        self.counters = counters
        self.replyBytes = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        self.replies.reserveCapacity(64)
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

        if envelope.data.readableBytes >= STUNMessage.headerLength,
           envelope.data.getInteger(at: envelope.data.readerIndex, as: UInt16.self) == 0x0001 {
            // A Binding request: scanned in place, answered into this burst's reply buffer.
            let start = replyBytes.writerIndex
            let decision = responder.handle(envelope.data, from: source, receivedOn: socket, localAddress: localAddress,
                                            transport: .udp, into: &replyBytes)
            return queue(decision, start: start, source: source, sourceAddress: envelope.remoteAddress)
        }

        let start = replyBytes.writerIndex
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
                                        transport: .udp, into: &replyBytes)
        } catch {
            decision = responder.answerUndecodable(envelope.data, error: error, from: source, socket: socket, into: &replyBytes)
        }
        queue(decision, start: start, source: source, sourceAddress: envelope.remoteAddress)
    }

    private func queue(_ decision: BindingResponder.Decision, start: Int, source: TransportAddress,
                       sourceAddress: SocketAddress) {
        switch decision {
        case .respond(let from, let to):
            counters.responses.wrappingIncrement(ordering: .relaxed)
            replies.append(PendingReply(destination: to == source ? sourceAddress : to.socketAddress, start: start,
                                        length: replyBytes.writerIndex - start, from: from))
        case .drop:
            replyBytes.moveWriterIndex(to: start)
            drop()
        }
    }

    /// Hands this burst's responses to NIO as slices of the reply buffer. After the flush NIO has sent them and let
    /// go of the slices, so `clear()` finds the storage unshared and reuses it; if a send is still pending (a full
    /// socket buffer), `clear()` gets fresh storage and the pending slices keep the old.
    private func sendReplies(context: ChannelHandlerContext) {
        guard !replies.isEmpty else { return }
        for reply in replies {
            let envelope = AddressedEnvelope(remoteAddress: reply.destination,
                                             data: replyBytes.getSlice(at: reply.start, length: reply.length)!)
            if reply.from == socket {
                context.write(wrapOutboundOut(envelope), promise: nil)
                pendingFlush = true
            } else if let channel = routes.channels[reply.from.index] {
                channel.writeAndFlush(envelope, promise: nil)
            }
        }
        replies.removeAll(keepingCapacity: true)
    }

    private func drop() {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        turn?.flushPending()
        sendReplies(context: context)
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
        replyBytes.clear()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port-unreachable for an earlier reply surfaces here as ECONNREFUSED; a UDP server carries on.
    }
}
