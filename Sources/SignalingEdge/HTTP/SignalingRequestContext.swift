import Hummingbird
import NIOCore

/// Request context for the HTTP routes; keeps the channel for the address the client reached.
struct SignalingRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Long-polling bodies: a batch of frames, each still checked against the frame limit by the core.
    var maxUploadSize: Int { 1024 * 1024 }
}
