import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The `/v1/ws` upgrade: NIOWebSocket's upgrader answers the handshake (version, `Sec-WebSocket-Accept`), and the
/// pipeline after it is NIO's frame decoder followed by our `WebSocketConnection`, with no frame encoder.
///
/// The connection frames what it sends itself, header and payload in one buffer (`ServerFrameBytes`). NIO's encoder
/// writes each header as a buffer of its own whenever it cannot prepend it, and it never can: the frame it is handed
/// still holds the payload, so the payload is never uniquely owned. That was one more allocation, pipeline write and
/// iovec per frame sent.
struct SignalingWebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let maxFrameSize: Int
    private let pipeline: @Sendable (any Channel, NIOHTTP1.HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    /// `shouldUpgrade` as NIOWebSocket's: extra response headers, or nil to refuse; `pipeline` adds the handler that
    /// takes the decoded frames.
    init(maxFrameSize: Int,
         shouldUpgrade: @escaping @Sendable (any Channel, NIOHTTP1.HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
         pipeline: @escaping @Sendable (any Channel, NIOHTTP1.HTTPRequestHead) -> EventLoopFuture<UpgradeResult>) {
        self.maxFrameSize = maxFrameSize
        self.pipeline = pipeline
        // Only its handshake is used; its `upgrade` (encoder, decoder, error handler) is not.
        handshake = NIOTypedWebSocketServerUpgrader(maxFrameSize: maxFrameSize, enableAutomaticErrorHandling: false,
                                                    shouldUpgrade: shouldUpgrade, upgradePipelineHandler: pipeline)
    }

    var supportedProtocol: String { handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { handshake.requiredUpgradeHeaders }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: NIOHTTP1.HTTPRequestHead,
                              initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest,
                                       initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: NIOHTTP1.HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        let maxFrameSize = self.maxFrameSize
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)))
        }.flatMap { [pipeline] in
            pipeline(channel, upgradeRequest)
        }
    }
}
