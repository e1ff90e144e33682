import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import STUN

/// STUN/TURN over one TCP connection, or TLS on top of it (`turns:`, RFC 8489 §6.2.3): messages and ChannelData are
/// framed by their length fields, requests are matched to responses by transaction id and never retransmitted (the
/// transport is reliable; a request that gets no answer within the policy's total time fails).
public final class STUNStreamClient: TURNTransport {
    public let server: TransportAddress
    public let localAddress: TransportAddress
    /// The TLS version and the server's leaf certificate, when TLS is used.
    public let tlsVersion: String?
    private let channel: any Channel
    private let handler: NIOLoopBound<STUNStreamClientHandler>

    public var isStream: Bool { true }

    /// What TLS to speak. The certificate is checked against `trustRoots` (the system's by default) and, when `host`
    /// is a name, against that name; `verify: false` accepts any certificate (self-signed test servers).
    public struct TLS: Sendable {
        public var host: String?
        public var verify: Bool
        public var trustRoots: NIOSSLTrustRoots
        public var applicationProtocols: [String]

        public init(host: String?, verify: Bool = true, trustRoots: NIOSSLTrustRoots = .default,
                    applicationProtocols: [String] = ["stun.turn"]) {
            self.host = host
            self.verify = verify
            self.trustRoots = trustRoots
            self.applicationProtocols = applicationProtocols
        }
    }

    private init(server: TransportAddress, channel: any Channel, handler: NIOLoopBound<STUNStreamClientHandler>,
                 tlsVersion: String?) throws {
        self.server = server
        self.channel = channel
        self.handler = handler
        self.tlsVersion = tlsVersion
        guard let local = channel.localAddress.flatMap(TransportAddress.init) else { throw STUNClientError.closed }
        localAddress = local
    }

    /// Connects (and completes the TLS handshake, when `tls` is given) within `timeout`.
    public static func connect(to server: TransportAddress, tls: TLS? = nil, timeout: TimeAmount = .seconds(10),
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> STUNStreamClient {
        let context: NIOSSLContext? = try tls.map { tls in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.applicationProtocols = tls.applicationProtocols
            configuration.trustRoots = tls.trustRoots
            // An IP literal cannot be checked against a name: the chain still is.
            configuration.certificateVerification = !tls.verify ? .none
                : tls.host.map { IPAddress($0) == nil } == true ? .fullVerification : .noHostnameVerification
            return try NIOSSLContext(configuration: configuration)
        }
        let serverName = tls?.host.flatMap { IPAddress($0) == nil ? $0 : nil }
        let (channel, handler) = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(to: server.socketAddress) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let context {
                        try pipeline.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    let handler = STUNStreamClientHandler()
                    try pipeline.addHandlers([ByteToMessageHandler(STUNStreamDecoder()), handler])
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        var version: String?
        if context != nil {
            do {
                // The handshake finishes before the first read or write completes; wait for it here so that a bad
                // certificate is reported as such, not as a timed-out request.
                version = try await channel.eventLoop.flatSubmit {
                    handler.value.handshake.futureResult
                }.get()
            } catch {
                try? await channel.close()
                throw error
            }
        }
        return try STUNStreamClient(server: server, channel: channel, handler: handler, tlsVersion: version)
    }

    public func transact(_ request: STUNMessage, options: STUNMessage.EncodingOptions,
                         policy: RetransmissionPolicy) async throws -> STUNMessage {
        let bytes = request.encoded(options: options)
        let (handler, channel, id) = (self.handler, self.channel, request.transactionID)
        let response = channel.eventLoop.flatSubmit {
            handler.value.expect(id, within: policy.totalTime, on: channel.eventLoop)
        }
        try await channel.writeAndFlush(bytes)
        do {
            return try await response.get()
        } catch is STUNStreamClientHandler.NoAnswer {
            throw STUNClientError.timedOut(server: server, requests: 1, seconds: Double(policy.totalTime.nanoseconds) / 1e9)
        }
    }

    public func sendRaw(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    public func nextRelayedData(timeout: TimeAmount) async throws -> STUNClient.RelayedData? {
        let (handler, channel) = (self.handler, self.channel)
        return try await channel.eventLoop.flatSubmit {
            handler.value.nextRelayedData(timeout: timeout, on: channel.eventLoop)
        }.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Cuts the stream into STUN messages and ChannelData units (padding included).
struct STUNStreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct Garbage: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        let length = ChannelData.looksLikeChannelData(first)
            ? ChannelData.framedLength(of: buffer, stream: true) : STUNMessage.framedLength(of: buffer)
        if length == nil, buffer.readableBytes >= STUNMessage.headerLength, !ChannelData.looksLikeChannelData(first) {
            throw Garbage()
        }
        guard let length, let unit = buffer.readSlice(length: length) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(unit))
        return .continue
    }
}

/// Event-loop-confined: the transactions waiting for a response, and relayed data not yet taken.
final class STUNStreamClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct NoAnswer: Error {}

    private var pending: [TransactionID: (promise: EventLoopPromise<STUNMessage>, timer: Scheduled<Void>)] = [:]
    private let inbox = RelayedDataInbox()
    /// Completed with the negotiated TLS version (never for plain TCP).
    private(set) var handshake: EventLoopPromise<String?>!

    func handlerAdded(context: ChannelHandlerContext) {
        handshake = context.eventLoop.makePromise()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Plain TCP never completes it, and a connection that failed never got that far.
        handshake.fail(STUNClientError.closed)
    }

    func expect(_ id: TransactionID, within timeout: TimeAmount, on loop: any EventLoop) -> EventLoopFuture<STUNMessage> {
        let promise = loop.makePromise(of: STUNMessage.self)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let timer = loop.scheduleTask(in: timeout) {
            if let entry = bound.value.pending.removeValue(forKey: id) { entry.promise.fail(NoAnswer()) }
        }
        pending[id] = (promise, timer)
        return promise.futureResult
    }

    func nextRelayedData(timeout: TimeAmount, on loop: any EventLoop) -> EventLoopFuture<STUNClient.RelayedData?> {
        inbox.next(timeout: timeout, on: loop)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            let version = (try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self))?.tlsVersion
            handshake.succeed(version.map(Self.name))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch ServerUnit(unwrapInboundIn(data)) {
        case .relayed(let relayed):
            inbox.deliver(relayed)
        case .message(let message):
            guard message.type.messageClass == .successResponse || message.type.messageClass == .errorResponse,
                  let entry = pending.removeValue(forKey: message.transactionID) else { return }
            entry.timer.cancel()
            entry.promise.succeed(message)
        case .garbage:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(STUNClientError.closed)
        for entry in pending.values {
            entry.timer.cancel()
            entry.promise.fail(STUNClientError.closed)
        }
        pending = [:]
        inbox.close()
        context.fireChannelInactive()
    }

    private static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
