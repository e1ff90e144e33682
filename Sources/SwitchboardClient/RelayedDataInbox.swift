import NIOCore
import STUN

/// What a TURN server sends a client besides responses, sorted out of one datagram or one framed stream unit.
enum ServerUnit {
    /// ChannelData or a Data indication: relayed data for the caller.
    case relayed(STUNClient.RelayedData)
    /// Any other STUN message (responses go to their transaction).
    case message(STUNMessage)
    case garbage

    init(_ unit: ByteBuffer, acceptClassic: Bool = false) {
        if let first = unit.getInteger(at: unit.readerIndex, as: UInt8.self), ChannelData.looksLikeChannelData(first) {
            guard case .success(let (number, payload)) = ChannelData.parse(unit) else { self = .garbage; return }
            self = .relayed(.init(peer: nil, channel: number, data: payload))
            return
        }
        guard let message = try? STUNMessage(decoding: unit, options: .init(acceptClassic: acceptClassic)) else {
            self = .garbage
            return
        }
        guard message.type == STUNMessageType(method: .data, messageClass: .indication) else {
            self = .message(message)
            return
        }
        var peer: TransportAddress?
        var payload: ByteBuffer?
        for attribute in message.attributes {
            if case .xorPeerAddress(let address) = attribute { peer = address }
            if case .data(let bytes) = attribute { payload = bytes }
        }
        guard let peer, let payload else { self = .garbage; return }
        self = .relayed(.init(peer: peer, channel: nil, data: payload))
    }
}

/// Relayed data not yet taken, with at most one waiter; bounded so a flood cannot grow it without limit. Confined
/// to its channel's event loop.
final class RelayedDataInbox {
    private var queued: [STUNClient.RelayedData] = []
    private var waiter: EventLoopPromise<STUNClient.RelayedData?>?
    static let limit = 4096

    func deliver(_ data: STUNClient.RelayedData) {
        if let waiter {
            self.waiter = nil
            waiter.succeed(data)
        } else if queued.count < Self.limit {
            queued.append(data)
        }
    }

    func next(timeout: TimeAmount, on loop: any EventLoop) -> EventLoopFuture<STUNClient.RelayedData?> {
        if !queued.isEmpty { return loop.makeSucceededFuture(queued.removeFirst()) }
        waiter?.succeed(nil)
        let promise = loop.makePromise(of: STUNClient.RelayedData?.self)
        waiter = promise
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: timeout) {
            let inbox = bound.value
            if let waiter = inbox.waiter, waiter.futureResult === promise.futureResult {
                inbox.waiter = nil
                waiter.succeed(nil)
            }
        }
        return promise.futureResult
    }

    /// The connection ended: a waiter gets nil.
    func close() {
        waiter?.succeed(nil)
        waiter = nil
    }
}
