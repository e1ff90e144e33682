import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import STUN

/// A plain TCP connection on loopback that keeps every byte it receives, for the peer side of RFC 6062 tests.
final class RawTCPConnection: Sendable {
    let channel: any Channel
    private let state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>

    fileprivate init(channel: any Channel, state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>) {
        self.channel = channel
        self.state = state
    }

    static func connect(to address: TransportAddress) async throws -> RawTCPConnection {
        let state = NIOLockedValueBox((bytes: ByteBuffer(), closed: false))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ByteKeeper(state)) }
            }
            .connect(to: address.socketAddress).get()
        return RawTCPConnection(channel: channel, state: state)
    }

    var localAddress: TransportAddress { TransportAddress(channel.localAddress!)! }
    var remoteAddress: TransportAddress { TransportAddress(channel.remoteAddress!)! }
    var received: String { state.withLockedValue { String(buffer: $0.bytes) } }
    var isClosed: Bool { state.withLockedValue { $0.closed } }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    func close() async {
        try? await channel.close()
    }
}

/// A TCP listener on loopback that keeps the connections it accepts.
final class RawTCPListener: Sendable {
    let channel: any Channel
    private let accepted: NIOLockedValueBox<[RawTCPConnection]>

    init() async throws {
        let accepted = NIOLockedValueBox<[RawTCPConnection]>([])
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let state = NIOLockedValueBox((bytes: ByteBuffer(), closed: false))
                    try channel.pipeline.syncOperations.addHandler(ByteKeeper(state))
                    accepted.withLockedValue { $0.append(RawTCPConnection(channel: channel, state: state)) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.accepted = accepted
    }

    var address: TransportAddress { TransportAddress(channel.localAddress!)! }
    var connections: [RawTCPConnection] { accepted.withLockedValue { $0 } }

    func close() async {
        for connection in connections { await connection.close() }
        try? await channel.close()
    }
}

private final class ByteKeeper: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>

    init(_ state: NIOLockedValueBox<(bytes: ByteBuffer, closed: Bool)>) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        state.withLockedValue { $0.bytes.writeBuffer(&bytes) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.closed = true }
    }
}

extension RawTCPConnection {
    /// Removes and returns the STUN message at the front of what arrived, once all of it has.
    func takeSTUN() -> STUNMessage? {
        state.withLockedValue { state in
            guard let length = STUNMessage.framedLength(of: state.bytes), state.bytes.readableBytes >= length,
                  let slice = state.bytes.readSlice(length: length) else { return nil }
            return try? STUNMessage(decoding: slice)
        }
    }
}
