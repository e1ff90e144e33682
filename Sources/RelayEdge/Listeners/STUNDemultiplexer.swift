import NIOCore
import STUN
import TURN

/// Sorts what a client sends to a STUN/TURN port, the same way for UDP datagrams and framed stream messages:
/// ChannelData and STUN of a TURN method go to the TURN edge, Binding requests to the `BindingResponder`, and the
/// rest is dropped (and counted).
///
/// `Edge` is what the transport talks to the TURN edge through (`TURNEdge` on its own loop, `TURNEdgeHandle` from
/// SwiftNIO's threads). The caller switches over the `Route` and does the I/O, so the datagram path keeps answering
/// Binding requests in place, straight into the loop's outgoing buffer, with no allocation and no indirect call.
/// A class: a UDP receiver reaches it through an optional on every datagram, and copying a struct out of that
/// retained each of its references per datagram.
final class STUNDemultiplexer<Edge> {
    let responder: BindingResponder
    /// Nil when the server runs without TURN: then only Binding is served.
    let turn: Edge?
    let counters: STUNCounters

    init(responder: BindingResponder, turn: Edge?, counters: STUNCounters) {
        self.responder = responder
        self.turn = turn
        self.counters = counters
    }

    enum Route {
        /// ChannelData (RFC 8656 §12.4) for the TURN edge, as it came.
        case channelData(Edge)
        /// A STUN message of a TURN method (Allocate, Refresh, Send, CreatePermission, ChannelBind).
        case turn(STUNMessage, Edge)
        /// For the responder: write the answer with `answer(_:_:…)`.
        case answer(Answer)
        /// Nothing to do; already counted as a drop.
        case drop
    }

    enum Answer {
        /// The header says Binding request: `BindingResponder` scans it in place without decoding it.
        case bindingRequest
        /// Not decodable as STUN: a 400 when the header can be addressed, else nothing.
        case undecodable(STUNDecodingError)
    }

    /// Where `bytes` (one datagram, or one message cut by `STUNStreamFramer`) goes.
    func route(_ bytes: ByteBuffer) -> Route {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return drop() }
        if ChannelData.looksLikeChannelData(first) {
            guard let turn else { return drop() }
            return .channelData(turn)
        }
        // Binding request is type 0x0001, so this check alone sends every one to the responder's in-place scan.
        if bytes.readableBytes >= STUNMessage.headerLength, bytes.getInteger(at: bytes.readerIndex, as: UInt16.self) == 0x0001 {
            return .answer(.bindingRequest)
        }
        let message: STUNMessage
        do {
            message = try STUNMessage(decoding: bytes, options: .init(acceptClassic: true))
        } catch {
            return .answer(.undecodable(error))
        }
        // A Binding response or indication (a Binding request was caught above) needs no answer.
        guard message.type.method != .binding, let turn else { return drop() }
        return .turn(message, turn)
    }

    /// Writes the answer to `bytes` into `out`. A `.drop` decision is counted here; the caller counts what it sends.
    func answer(_ answer: Answer, to bytes: ByteBuffer, from source: TransportAddress, receivedOn socket: ResponderSocket,
                localAddress: TransportAddress?, transport: ClientTransport, into out: inout ByteBuffer) -> BindingResponder.Decision {
        let decision: BindingResponder.Decision
        switch answer {
        case .bindingRequest:
            // CHANGE-REQUEST, RESPONSE-PORT and PADDING mean something over plain UDP only.
            decision = responder.handle(bytes, from: source, receivedOn: socket, localAddress: localAddress,
                                        transport: transport == .udp ? .udp : .tcp, into: &out)
        case .undecodable(let error):
            decision = responder.answerUndecodable(bytes, error: error, from: source, socket: socket, into: &out)
        }
        if case .drop = decision { counters.dropped.wrappingIncrement(ordering: .relaxed) }
        return decision
    }

    private func drop() -> Route {
        counters.dropped.wrappingIncrement(ordering: .relaxed)
        return .drop
    }
}
