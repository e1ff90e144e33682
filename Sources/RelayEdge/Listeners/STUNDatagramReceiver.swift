import NIOCore
import STUN
import TURN

/// Reply routes of an RFC 5780 server: the socket of each of the (up to) four addresses, by `ResponderSocket.index`.
/// Unchecked: frozen once built and read only on the loops that own the sockets (through their `submit`).
struct ResponderSockets: @unchecked Sendable {
    // Each socket is used on its own loop only; `STUNDatagramReceiver` hops when a reply leaves from another loop's.
    var sockets: [DatagramSocket?] = [nil, nil, nil, nil]
}

/// One STUN/TURN UDP socket. Binding requests go to the `BindingResponder` and are answered from the socket it
/// names; every other STUN message and all ChannelData go to the TURN edge.
///
/// A Binding response is written straight into the loop's outgoing buffer and leaves with the burst's `sendmmsg`.
final class STUNDatagramReceiver: DatagramReceiver {
    private let socket: ResponderSocket
    private let turn: TURNEdge?
    private let counters: STUNCounters
    /// Set once every listener is bound (the responder announces all their addresses); until then reads are dropped.
    private var responder: BindingResponder?
    private var routes = ResponderSockets()

    init(socket: ResponderSocket, turn: TURNEdge?, counters: STUNCounters) {
        self.socket = socket
        self.turn = turn
        self.counters = counters
    }

    func install(responder: BindingResponder, routes: ResponderSockets) {
        self.responder = responder
        self.routes = routes
    }

    func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on listener: DatagramSocket) {
        guard let responder, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        // A wildcard bind learns the address each datagram reached from packet info.
        let bound = listener.address
        let localAddress = bound.ip.isUnspecified ? local.map { TransportAddress(ip: $0, port: bound.port) } : bound
        let server = localAddress ?? bound
        let loop = listener.loop

        if ChannelData.looksLikeChannelData(first) {
            guard let turn else { return drop() }
            turn.clientChannelData(bytes, from: FiveTuple(client: source, server: server, transport: .udp), via: listener)
            return
        }

        let start = loop.outgoing.writerIndex
        if bytes.readableBytes >= STUNMessage.headerLength, bytes.getInteger(at: bytes.readerIndex, as: UInt16.self) == 0x0001 {
            // A Binding request: scanned in place, answered into the loop's outgoing buffer.
            let decision = responder.handle(bytes, from: source, receivedOn: socket, localAddress: localAddress,
                                            transport: .udp, into: &loop.outgoing)
            return queue(decision, start: start, listener: listener)
        }

        let decision: BindingResponder.Decision
        do {
            let message = try STUNMessage(decoding: bytes, options: .init(acceptClassic: true))
            if message.type.method != .binding, let turn {
                turn.clientMessage(message, from: FiveTuple(client: source, server: server, transport: .udp), via: listener)
                return
            }
            guard message.type.messageClass == .request, message.type.method == .binding else { return drop() }
            decision = responder.handle(message, from: source, receivedOn: socket, localAddress: localAddress,
                                        transport: .udp, into: &loop.outgoing)
        } catch {
            decision = responder.answerUndecodable(bytes, error: error, from: source, socket: socket, into: &loop.outgoing)
        }
        queue(decision, start: start, listener: listener)
    }

    private func queue(_ decision: BindingResponder.Decision, start: Int, listener: DatagramSocket) {
        let loop = listener.loop
        switch decision {
        case .respond(let from, let to):
            let sender = from == socket ? listener : routes.sockets[from.index]
            guard let sender else { return loop.discard(from: start) }
            counters.responses.wrappingIncrement(ordering: .relaxed)
            if sender.loop === loop {
                loop.commit(from: start, to: to, via: sender)
            } else {
                // An RFC 5780 answer from a socket of another loop (with several TURN threads): rare, so a copy.
                var copy = ByteBufferAllocator().buffer(capacity: loop.outgoing.writerIndex - start)
                copy.writeImmutableBuffer(loop.outgoing.getSlice(at: start, length: loop.outgoing.writerIndex - start)!)
                loop.discard(from: start)
                let reply = UncheckedReply(bytes: copy, socket: sender)
                sender.loop.execute { reply.socket.loop.send(reply.bytes, to: to, via: reply.socket) }
            }
        case .drop:
            loop.discard(from: start)
            drop()
        }
    }

    private func drop() {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
    }
}

/// A reply handed to the loop that owns `socket`. Unchecked: the socket is touched only in that loop's task.
private struct UncheckedReply: @unchecked Sendable {
    var bytes: ByteBuffer
    var socket: DatagramSocket
}
