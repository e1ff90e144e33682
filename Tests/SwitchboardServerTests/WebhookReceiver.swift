import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP receiver on 127.0.0.1 that answers 204 to everything and keeps each request's headers and JSON body.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var headers: [String: String]
        var body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var type: String? { json["type"] as? String }
    }

    let url: URL
    private let channel: any Channel
    private let received: NIOLockedValueBox<[Delivery]>

    var deliveries: [Delivery] { received.withLockedValue { $0 } }

    static func start() async throws -> WebhookReceiver {
        let received = NIOLockedValueBox<[Delivery]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(received: received))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return WebhookReceiver(url: URL(string: "http://127.0.0.1:\(channel.localAddress!.port!)/hooks")!,
                               channel: channel, received: received)
    }

    private init(url: URL, channel: any Channel, received: NIOLockedValueBox<[Delivery]>) {
        self.url = url
        self.channel = channel
        self.received = received
    }

    func stop() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let received: NIOLockedValueBox<[Delivery]>
        var headers: [String: String] = [:]
        var body: [UInt8] = []

        init(received: NIOLockedValueBox<[Delivery]>) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                headers = Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) }) { _, last in last }
                body = []
            case .body(let part):
                body += part.readableBytesView
            case .end:
                let delivery = Delivery(headers: headers, body: body)
                received.withLockedValue { $0.append(delivery) }
                let head = HTTPResponseHead(version: .http1_1, status: .noContent, headers: ["Content-Length": "0"])
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
