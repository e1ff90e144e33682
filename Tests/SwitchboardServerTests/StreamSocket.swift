import NIOCore
import NIOPosix
import NIOSSL
import STUN
import TURN

/// A raw TCP connection on loopback that frames what arrives the way a TURN client must: STUN messages by their
/// length field, ChannelData by its length plus padding to 4 bytes.
final class StreamSocket: Sendable {
    let channel: Channel
    /// Kept from the initializer: a server that closes at once tears the pipeline down before a look-up could find it.
    private let collector: NIOLoopBound<StreamUnitCollector>
    var localAddress: TransportAddress { TransportAddress(channel.localAddress!)! }

    /// `tls`: speak TLS and hand the server's certificate chain to this closure (any chain is accepted).
    init(connectingTo server: TransportAddress, tls: (@Sendable ([NIOSSLCertificate]) -> Void)? = nil,
         alpn: [String] = []) async throws {
        let context: NIOSSLContext? = try tls.map { _ in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .noHostnameVerification
            configuration.applicationProtocols = alpn
            return try NIOSSLContext(configuration: configuration)
        }
        (channel, collector) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: server.socketAddress) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context, let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(
                            context: context, serverHostname: nil,
                            customVerificationCallback: { chain, promise in
                                tls(chain)
                                promise.succeed(.certificateVerified)
                            }))
                    }
                    let collector = StreamUnitCollector()
                    try channel.pipeline.syncOperations.addHandler(collector)
                    return (channel, NIOLoopBound(collector, eventLoop: channel.eventLoop))
                }
            }
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// The next whole STUN message or ChannelData unit (padding included), or nil after `timeout` or on close.
    func nextUnit(timeout: TimeAmount = .seconds(2)) async throws -> ByteBuffer? {
        let (channel, collector) = (self.channel, self.collector)
        return try await channel.eventLoop.flatSubmit {
            collector.value.next(timeout: timeout, on: channel.eventLoop)
        }.get()
    }

    func close() async {
        try? await channel.close()
    }
}

extension StreamSocket {
    /// Sends a request and returns the STUN response to it, skipping anything else; with `nonce`, signed as `alice`
    /// of realm `switchboard` with `key`.
    func transact(_ method: STUNMethod, _ attributes: [STUNAttribute], nonce: String?, key: IntegrityKey,
                  timeout: TimeAmount = .seconds(2)) async throws -> STUNMessage {
        var request = STUNMessage(type: STUNMessageType(method: method, messageClass: .request), attributes: attributes)
        var options = STUNMessage.EncodingOptions(fingerprint: true)
        if let nonce {
            request.attributes += [.username("alice"), .realm("switchboard"), .nonce(nonce)]
            options.integrityKey = key
        }
        try await send(request.encoded(options: options))
        while let unit = try await nextUnit(timeout: timeout) {
            if let message = try? STUNMessage(decoding: unit), message.transactionID == request.transactionID { return message }
        }
        throw ChannelError.eof
    }
}

/// Event-loop-confined byte accumulator with at most one waiter.
final class StreamUnitCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var buffer = ByteBuffer()
    private var waiter: EventLoopPromise<ByteBuffer?>?

    private func takeUnit() -> ByteBuffer? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        let length = ChannelData.looksLikeChannelData(first)
            ? ChannelData.framedLength(of: buffer, stream: true) : STUNMessage.framedLength(of: buffer)
        guard let length, buffer.readableBytes >= length else { return nil }
        return buffer.readSlice(length: length)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if let waiter, let unit = takeUnit() {
            self.waiter = nil
            waiter.succeed(unit)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiter?.succeed(nil)
        waiter = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {}

    func next(timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<ByteBuffer?> {
        if let unit = takeUnit() { return loop.makeSucceededFuture(unit) }
        let promise = loop.makePromise(of: ByteBuffer?.self)
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
