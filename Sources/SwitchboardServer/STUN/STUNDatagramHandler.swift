import NIOCore
import STUN

/// Reply routes of an RFC 5780 server: the channel of each of the (up to) four sockets, by `ResponderSocket.index`.
struct ResponderChannels: Sendable {
    var channels: [Channel?] = [nil, nil, nil, nil]
}

/// One STUN UDP socket: decodes each datagram through the `BindingResponder` and sends the answer from the socket
/// it names. Replies are written as they are produced and flushed once per read burst so NIO can batch them.
final class STUNDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let responder: BindingResponder
    private let socket: ResponderSocket
    /// The socket's own address when it is bound to a concrete IP; nil for a wildcard bind (then packet info tells).
    private let boundAddress: TransportAddress?
    var routes = ResponderChannels()
    private var pendingFlush = false
    private var pendingOtherChannels: [Int] = []
    let counters: STUNCounters

    init(responder: BindingResponder, socket: ResponderSocket, boundAddress: TransportAddress?, counters: STUNCounters) {
        self.responder = responder
        self.socket = socket
        self.boundAddress = boundAddress
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let source = TransportAddress(envelope.remoteAddress) else { return }
        var localAddress = boundAddress
        if localAddress == nil, let destination = envelope.metadata?.packetInfo?.destinationAddress {
            localAddress = TransportAddress(destination)
        }
        var out = context.channel.allocator.buffer(capacity: 256)
        let decision = responder.handle(envelope.data, from: source, receivedOn: socket, localAddress: localAddress,
                                        transport: .udp, into: &out)
        switch decision {
        case .respond(let from, let to):
            counters.responses.wrappingIncrement(ordering: .relaxed)
            let reply = AddressedEnvelope(remoteAddress: to.socketAddress, data: out)
            if from == socket {
                context.write(wrapOutboundOut(reply), promise: nil)
                pendingFlush = true
            } else if let channel = routes.channels[from.index] {
                // Another socket, possibly on another event loop: NIO hands the write over to that loop.
                channel.writeAndFlush(reply, promise: nil)
            }
        case .drop:
            counters.dropped.wrappingIncrement(ordering: .relaxed)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port-unreachable for an earlier reply surfaces here as ECONNREFUSED; a UDP server carries on.
    }
}
