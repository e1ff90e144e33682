import Hummingbird
import NIOCore
import Signaling

/// Request context for the HTTP routes; keeps the channel for the address the client reached.
struct SignalingRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// Who the request's token names; set by `TokenAuthMiddleware` on the routes behind it (nil: the server is open).
    var identity: Identity?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Long-polling bodies: a batch of frames, each still checked against the frame limit by the core.
    var maxUploadSize: Int { 1024 * 1024 }
}
