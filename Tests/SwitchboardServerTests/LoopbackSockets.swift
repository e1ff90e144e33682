import NIOCore
import NIOPosix
import STUN

/// A raw UDP socket on loopback for sending exact bytes and collecting every datagram that comes back.
final class RawUDPSocket: Sendable {
    let channel: Channel
    var localAddress: TransportAddress { TransportAddress(channel.localAddress!)! }

    convenience init(ip: IPAddress = .ipv4Loopback) async throws {
        try await self.init(bindingExactly: TransportAddress(ip: ip, port: 0))
    }

    /// Binds this address and port (throws when it is taken).
    init(bindingExactly address: TransportAddress) async throws {
        channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(DatagramCollector()) }
            }
            .bind(to: address.socketAddress).get()
    }

    func send(_ bytes: ByteBuffer, to address: TransportAddress) async throws {
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address.socketAddress, data: bytes))
    }

    func send(_ message: STUNMessage, to address: TransportAddress, options: STUNMessage.EncodingOptions = .init()) async throws {
        try await send(message.encoded(options: options), to: address)
    }

    /// The next datagram, or nil when none arrives within `timeout`.
    func next(timeout: TimeAmount = .seconds(2)) async throws -> AddressedEnvelope<ByteBuffer>? {
        let channel = self.channel
        return try await channel.eventLoop.flatSubmit {
            let collector = try! channel.pipeline.syncOperations.handler(type: DatagramCollector.self)
            return collector.next(timeout: timeout, on: channel.eventLoop)
        }.get()
    }

    /// The next datagram decoded as STUN.
    func nextMessage(timeout: TimeAmount = .seconds(2)) async throws -> (STUNMessage, TransportAddress)? {
        guard let envelope = try await next(timeout: timeout) else { return nil }
        let message = try STUNMessage(decoding: envelope.data, options: .init(acceptClassic: true))
        return (message, TransportAddress(envelope.remoteAddress)!)
    }

    func close() async {
        try? await channel.close()
    }
}

/// Event-loop-confined queue of received datagrams with at most one waiter.
final class DatagramCollector: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private var queue: [AddressedEnvelope<ByteBuffer>] = []
    private var waiter: EventLoopPromise<AddressedEnvelope<ByteBuffer>?>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if let waiter {
            self.waiter = nil
            waiter.succeed(envelope)
        } else {
            queue.append(envelope)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {}

    func next(timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<AddressedEnvelope<ByteBuffer>?> {
        if !queue.isEmpty { return loop.makeSucceededFuture(queue.removeFirst()) }
        let promise = loop.makePromise(of: AddressedEnvelope<ByteBuffer>?.self)
        waiter = promise
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: timeout) {
            if let waiter = bound.value.waiter, waiter.futureResult === promise.futureResult {
                bound.value.waiter = nil
                waiter.succeed(nil)
            }
        }
        return promise.futureResult
    }
}
