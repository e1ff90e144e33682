import NIOCore

/// Closes a channel when `limit` passes, unless cancelled first: how a handler bounds a phase of a connection (the
/// first bytes, a TLS handshake) that a client could otherwise stretch forever.
struct ChannelDeadline {
    private var scheduled: Scheduled<Void>?

    mutating func arm(_ context: ChannelHandlerContext, in limit: TimeAmount) {
        let channel = context.channel
        scheduled = context.eventLoop.scheduleTask(in: limit) { channel.close(promise: nil) }
    }

    mutating func cancel() {
        scheduled?.cancel()
        scheduled = nil
    }
}
