import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Request context for the HTTP and WebSocket routes; keeps the channel so the WebSocket route can watch close frames.
struct SignalingRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<SignalingRequestContext>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }

    /// Long-polling bodies: a batch of frames, each still checked against the frame limit by the core.
    var maxUploadSize: Int { 1024 * 1024 }
}
