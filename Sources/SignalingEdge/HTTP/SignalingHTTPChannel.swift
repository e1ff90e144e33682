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
        /// An upgrade for a new session while the server drains: 503 (resumes still upgrade).
        case refusedDraining(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    /// What `shouldUpgrade` decided, for the handler that takes over when it refused.
    private enum UpgradeAttempt {
        case none
        case refused
        case draining
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let hub: SignalingHub
    let verifier: SignalingTokenVerifier
    let limits: SignalingLimits
    let drainGate: DrainGate
    /// Longer than a long poll's hold, so idle keep-alive connections are still reaped.
    let idleTimeout: Duration

    init(responder: @escaping HTTPChannelHandler.Responder, hub: SignalingHub, verifier: SignalingTokenVerifier,
         limits: SignalingLimits, drainGate: DrainGate, idleTimeout: Duration) {
        self.responder = Self.refusingLateUpgrades(responder)
        self.hub = hub
        self.verifier = verifier
        self.limits = limits
        self.drainGate = drainGate
        self.idleTimeout = idleTimeout
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let attempted = NIOLoopBoundBox(UpgradeAttempt.none, eventLoop: channel.eventLoop)
            let drainGate = drainGate
            // Decoder errors reach `WebSocketConnection.errorCaught`, which closes with our codes.
            let upgrader = SignalingWebSocketUpgrader<Negotiated>(
                maxFrameSize: limits.maxFrameBytes * 2,
                shouldUpgrade: { channel, head in
                    guard WebSocketUpgradeRequest.isSignaling(head) else {
                        attempted.value = .refused
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    if drainGate.isDraining, WebSocketUpgradeRequest(uri: head.uri, host: "").resume == nil {
                        attempted.value = .draining
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
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
                        switch attempted.value {
                        case .none: return .http(http)
                        case .refused: return .refusedUpgrade(http)
                        case .draining: return .refusedDraining(http)
                        }
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
            case .refusedDraining(let http):
                // The body long polling gives a new session while draining, so clients handle both alike.
                let body = ByteBuffer(string: #"{"code":4013,"reason":"draining"}"#)
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .serviceUnavailable, headerFields: [
                            .connection: "close", .contentType: "application/json", .cacheControl: "no-store",
                            .contentLength: "\(body.readableBytes)",
                        ])),
                        .body(body),
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
