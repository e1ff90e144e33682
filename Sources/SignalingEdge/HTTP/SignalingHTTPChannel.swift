import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Signaling

/// Each accepted HTTP connection: an upgrade to `/v1/ws` becomes a `WebSocketConnection` in the channel's own
/// pipeline (no task, no async stream: frames go from the decoder to the hub and back on the event loop); every
/// other request goes to Hummingbird's router.
struct SignalingHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    enum Negotiated: Sendable {
        /// The connection's `WebSocketConnection` runs it from here.
        case webSocket
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade to something other than the signaling WebSocket: 400.
        case refusedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let hub: SignalingHub
    let verifier: SignalingTokenVerifier
    let limits: SignalingLimits
    /// Longer than a long poll's hold, so idle keep-alive connections are still reaped.
    let idleTimeout: Duration

    init(responder: @escaping HTTPChannelHandler.Responder, hub: SignalingHub, verifier: SignalingTokenVerifier,
         limits: SignalingLimits, idleTimeout: Duration) {
        self.responder = Self.refusingLateUpgrades(responder)
        self.hub = hub
        self.verifier = verifier
        self.limits = limits
        self.idleTimeout = idleTimeout
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let attempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            // Decoder errors reach `WebSocketConnection.errorCaught`, which closes with our codes.
            let upgrader = SignalingWebSocketUpgrader<Negotiated>(
                maxFrameSize: limits.maxFrameBytes * 2,
                shouldUpgrade: { channel, head in
                    attempted.value = true
                    return channel.eventLoop.makeSucceededFuture(WebSocketUpgradeRequest.isSignaling(head) ? HTTPHeaders() : nil)
                },
                pipeline: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        // Frames the hub writes may queue up to 1 MiB before the client counts as too slow.
                        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
                        let request = WebSocketUpgradeRequest(uri: head.uri, host: ICEServerDirectory.reachedHost(channel.localAddress))
                        try channel.pipeline.syncOperations.addHandler(
                            WebSocketConnection(channel: channel, hub: hub, verifier: verifier, limits: limits, request: request))
                        return .webSocket
                    }
                })
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return attempted.value ? .refusedUpgrade(http) : .http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(upgradeConfiguration: upgrades)
            // Hummingbird's async channel answers requests in order and reports errors itself; `HTTPRequestGuard`
            // has checked the framing and bounds before any of this sees a byte.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .webSocket:
                return
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refusedUpgrade(let http):
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])),
                        .end(nil),
                    ])
                }
            }
        } catch {
            logger.debug("HTTP connection ended during negotiation", metadata: ["error": "\(error)"])
        }
    }

    /// NIO reads an upgrade only as a connection's first request; a later one is sent back to the same URL on a
    /// new connection (307, then close), which the upgrade path handles.
    private static func refusingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectedUpgrade: Error {}
        return { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, writer, channel)
            }
            let location = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
            try await writer.writeResponse(HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location]))
            throw RedirectedUpgrade()
        }
    }
}
