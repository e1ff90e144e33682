import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A real HTTP/1.1 server on 127.0.0.1 (port 0) that records every request and answers as the test says.
final class TestReceiver: Sendable {
    struct Request: Sendable {
        var id: String?
        var timestamp: String?
        var signature: String?
        var body: [UInt8]
        var number: Int

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    enum Reply: Sendable {
        case status(Int)
        /// Read the request, never answer.
        case hang
        /// 200 announcing `bytes` of body, written as fast as the client takes them.
        case huge(bytes: Int)
    }

    let url: URL
    private let channel: any Channel
    private let state: NIOLockedValueBox<[Request]>
    /// Body bytes of `.huge` replies that the socket took before the client went away.
    let hugeBytesWritten: NIOLockedValueBox<Int>

    var requests: [Request] { state.withLockedValue { $0 } }

    /// `tls`: serve https:// with this certificate and key (PEM).
    static func start(path: String = "/hooks", port: Int = 0, tls: (certificate: String, key: String)? = nil,
                      reply: @escaping @Sendable (Request) -> Reply) async throws -> TestReceiver {
        let context: NIOSSLContext? = try tls.map { tls in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(tls.certificate.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tls.key.utf8), format: .pem))))
        }
        let state = NIOLockedValueBox<[Request]>([])
        let written = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(state: state, written: written, reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        let port = channel.localAddress!.port!
        let scheme = tls == nil ? "http" : "https"
        return TestReceiver(url: URL(string: "\(scheme)://127.0.0.1:\(port)\(path)")!, channel: channel, state: state, written: written)
    }

    private init(url: URL, channel: any Channel, state: NIOLockedValueBox<[Request]>, written: NIOLockedValueBox<Int>) {
        self.url = url
        self.channel = channel
        self.state = state
        self.hugeBytesWritten = written
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class ReceiverHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: NIOLockedValueBox<[TestReceiver.Request]>
    let written: NIOLockedValueBox<Int>
    let reply: @Sendable (TestReceiver.Request) -> TestReceiver.Reply
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var hugeLeft = 0

    init(state: NIOLockedValueBox<[TestReceiver.Request]>, written: NIOLockedValueBox<Int>,
         reply: @escaping @Sendable (TestReceiver.Request) -> TestReceiver.Reply) {
        self.state = state
        self.written = written
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let part):
            body += part.readableBytesView
        case .end:
            guard let head else { return }
            let request = state.withLockedValue { requests in
                let request = TestReceiver.Request(
                    id: head.headers.first(name: "Switchboard-Id"), timestamp: head.headers.first(name: "Switchboard-Timestamp"),
                    signature: head.headers.first(name: "Switchboard-Signature"), body: body, number: requests.count + 1)
                requests.append(request)
                return request
            }
            switch reply(request) {
            case .status(let code):
                // 204 may carry no body (RFC 9110): a client would read "ok" as the start of the next response.
                let body = code == 204 ? "" : "ok"
                let headers = HTTPHeaders([("Content-Length", "\(body.utf8.count)")])
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))),
                              promise: nil)
                if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .hang:
                break
            case .huge(let bytes):
                let headers = HTTPHeaders([("Content-Length", "\(bytes)")])
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                                      promise: nil)
                hugeLeft = bytes
                writeHuge(context: context)
            }
        }
    }

    /// One chunk at a time, the next once the socket has taken this one, until the client closes.
    private func writeHuge(context: ChannelHandlerContext) {
        guard hugeLeft > 0 else { return }
        let size = min(hugeLeft, 64 * 1024)
        hugeLeft -= size
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        let written = self.written
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).whenSuccess {
            written.withLockedValue { $0 += size }
            let (handler, context) = loopBound.value
            handler.writeHuge(context: context)
        }
    }
}
