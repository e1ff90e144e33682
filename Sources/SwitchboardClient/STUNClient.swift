import NIOCore
import NIOPosix
import STUN


/// A STUN client on one UDP socket: sends requests, retransmits them per RFC 8489 §6.2.1 and matches responses by
/// transaction id, whichever address they come from (RFC 5780 tests ask the server to answer from another one).
public final class STUNClient: Sendable {
    /// A response and where it came from.
    public struct Response: Sendable {
        public var message: STUNMessage
        public var source: TransportAddress
    }

    /// Relayed data a TURN server delivered: a Data indication or ChannelData.
    public struct RelayedData: Sendable {
        /// The peer, for Data indications; nil for ChannelData (the channel says who).
        public var peer: TransportAddress?
        public var channel: UInt16?
        public var data: ByteBuffer
    }

    private let channel: Channel
    public let localAddress: TransportAddress

    private init(channel: Channel, localAddress: TransportAddress) {
        self.channel = channel
        self.localAddress = localAddress
    }

    /// The next Data indication or ChannelData that arrived on this socket, or nil after `timeout`.
    public func nextRelayedData(timeout: TimeAmount) async throws -> RelayedData? {
        let channel = self.channel
        return try await channel.eventLoop.flatSubmit {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: STUNClientHandler.self)
                return handler.nextRelayedData(timeout: timeout, on: channel.eventLoop)
            } catch {
                return channel.eventLoop.makeFailedFuture(STUNClientError.closed)
            }
        }.get()
    }

    /// Sends bytes without waiting for an answer (indications, ChannelData).
    public func sendRaw(_ bytes: ByteBuffer, to server: TransportAddress) async throws {
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: server.socketAddress, data: bytes))
    }

    /// Opens a socket on `local` (port 0 picks one).
    public static func open(local: TransportAddress = TransportAddress(ip: .v4(0), port: 0),
                            group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> STUNClient {
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(STUNClientHandler()) }
            }
            .bind(to: local.socketAddress).get()
        guard let address = channel.localAddress.flatMap(TransportAddress.init) else { throw STUNClientError.closed }
        return STUNClient(channel: channel, localAddress: address)
    }

    /// Sends `request` to `server` until a response with its transaction id arrives or the policy gives up.
    /// Error responses are returned, not thrown: RFC 5780 and TURN callers inspect them.
    public func transact(_ request: STUNMessage, to server: TransportAddress,
                         policy: RetransmissionPolicy = .rfc8489,
                         options: STUNMessage.EncodingOptions = .init(fingerprint: true)) async throws -> Response {
        let bytes = request.encoded(options: options)
        let promise = channel.eventLoop.makePromise(of: Response.self)
        let transaction = STUNClientHandler.Transaction(
            id: request.transactionID, bytes: bytes, destination: server, waits: policy.waits, promise: promise)
        channel.pipeline.fireUserInboundEventTriggered(transaction)
        do {
            return try await promise.futureResult.get()
        } catch is STUNClientHandler.GaveUp {
            throw STUNClientError.timedOut(server: server, requests: policy.maxRequests,
                                           seconds: Double(policy.totalTime.nanoseconds) / 1e9)
        }
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Event-loop-confined state of a `STUNClient`: outstanding transactions and their retransmission timers.
final class STUNClientHandler: ChannelDuplexHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    struct GaveUp: Error {}

    struct Transaction: Sendable {
        var id: TransactionID
        var bytes: ByteBuffer
        var destination: TransportAddress
        var waits: [TimeAmount]
        var promise: EventLoopPromise<STUNClient.Response>
    }

    private struct Pending {
        var transaction: Transaction
        var timer: Scheduled<Void>?
    }

    private var pending: [TransactionID: Pending] = [:]
    private let inbox = RelayedDataInbox()

    func nextRelayedData(timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<STUNClient.RelayedData?> {
        inbox.next(timeout: timeout, on: loop)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let transaction = event as? Transaction else { return context.fireUserInboundEventTriggered(event) }
        pending[transaction.id] = Pending(transaction: transaction)
        send(context: context, id: transaction.id, attempt: 0)
    }

    private func send(context: ChannelHandlerContext, id: TransactionID, attempt: Int) {
        guard let entry = pending[id] else { return }
        let transaction = entry.transaction
        guard attempt < transaction.waits.count else {
            pending[id] = nil
            transaction.promise.fail(GaveUp())
            return
        }
        let envelope = AddressedEnvelope(remoteAddress: transaction.destination.socketAddress, data: transaction.bytes)
        context.writeAndFlush(wrapOutboundOut(envelope), promise: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pending[id]?.timer = context.eventLoop.scheduleTask(in: transaction.waits[attempt]) {
            let (handler, context) = loopBound.value
            handler.send(context: context, id: id, attempt: attempt + 1)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        switch ServerUnit(envelope.data, acceptClassic: true) {
        case .relayed(let relayed):
            inbox.deliver(relayed)
        case .message(let message):
            guard message.type.messageClass == .successResponse || message.type.messageClass == .errorResponse,
                  let entry = pending.removeValue(forKey: message.transactionID),
                  let source = TransportAddress(envelope.remoteAddress) else { return }
            entry.timer?.cancel()
            entry.transaction.promise.succeed(STUNClient.Response(message: message, source: source))
        case .garbage:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP unreachable (ECONNREFUSED) is not fatal: retransmission decides when to give up.
    }

    func channelInactive(context: ChannelHandlerContext) {
        for entry in pending.values {
            entry.timer?.cancel()
            entry.transaction.promise.fail(STUNClientError.closed)
        }
        pending = [:]
        inbox.close()
        context.fireChannelInactive()
    }
}
