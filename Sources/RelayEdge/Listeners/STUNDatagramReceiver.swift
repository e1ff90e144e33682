import NIOCore
import STUN
import TURN

/// Reply routes of an RFC 5780 server: the socket of each of the (up to) four addresses, by `ResponderSocket.index`.
/// Unchecked: frozen once built and read only on the loops that own the sockets (through their `submit`).
struct ResponderSockets: @unchecked Sendable {
    // Each socket is used on its own loop only; `STUNDatagramReceiver` hops when a reply leaves from another loop's.
    var sockets: [DatagramSocket?] = [nil, nil, nil, nil]
}

/// One STUN/TURN UDP socket. `STUNDemultiplexer` sorts what it reads: Binding requests are answered from the socket
/// the `BindingResponder` names; every other STUN message and all ChannelData go to the TURN edge.
///
/// A Binding response is written straight into the loop's outgoing buffer and leaves with the burst's `sendmmsg`.
final class STUNDatagramReceiver: DatagramReceiver {
    private let socket: ResponderSocket
    private let turn: TURNEdge?
    private let counters: STUNCounters
    /// Set once every listener is bound (the responder announces all their addresses); until then reads are dropped.
    private var demultiplexer: STUNDemultiplexer<TURNEdge>?
    private var routes = ResponderSockets()

    init(socket: ResponderSocket, turn: TURNEdge?, counters: STUNCounters) {
        self.socket = socket
        self.turn = turn
        self.counters = counters
    }

    func install(responder: BindingResponder, routes: ResponderSockets) {
        demultiplexer = STUNDemultiplexer(responder: responder, turn: turn, counters: counters)
        self.routes = routes
    }

    func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on listener: DatagramSocket) {
        guard let demultiplexer else { return }
        // A wildcard bind learns the address each datagram reached from packet info.
        let bound = listener.address
        let localAddress = bound.ip.isUnspecified ? local.map { TransportAddress(ip: $0, port: bound.port) } : bound

        switch demultiplexer.route(bytes) {
        case .channelData(let turn):
            turn.clientChannelData(bytes, from: FiveTuple(client: source, server: localAddress ?? bound, transport: .udp))
        case .turn(let message, let turn):
            turn.clientMessage(message, from: FiveTuple(client: source, server: localAddress ?? bound, transport: .udp),
                               via: listener)
        case .answer(let answer):
            // Answered into the loop's outgoing buffer; a Binding request is scanned in place.
            let loop = listener.loop
            let start = loop.outgoing.writerIndex
            let decision = demultiplexer.answer(answer, to: bytes, from: source, receivedOn: socket,
                                                localAddress: localAddress, transport: .udp, into: &loop.outgoing)
            queue(decision, start: start, listener: listener)
        case .drop:
            break
        }
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
                let copy = ByteBuffer(buffer: loop.outgoing.getSlice(at: start, length: loop.outgoing.writerIndex - start)!)
                loop.discard(from: start)
                let bound = DatagramLoopBound(sender, loop: sender.loop)
                sender.loop.execute { bound.loop.send(copy, to: to, via: bound.value) }
            }
        case .drop:
            // Counted by the demultiplexer.
            loop.discard(from: start)
        }
    }
}
