import HummingbirdCore
import Logging
import NIOCore

/// Closes a connection that sends nothing within `timeout` of being accepted, or half-closes before its first byte.
///
/// Hummingbird applies its idle timeout only once a first request has been parsed, so without this a client could
/// hold thousands of silent connections (and their descriptors) forever.
final class FirstRequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var spoke = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !spoke {
            spoke = true
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !spoke, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Wraps a Hummingbird child channel so every accepted connection gets a `FirstRequestDeadline` first.
struct DeadlineGuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let timeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        let timeout = self.timeout
        return channel.eventLoop.makeCompletedFuture {
            // Signaling frames are small and latency-bound: never hold one back for Nagle's algorithm.
            try channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1)
            try channel.pipeline.syncOperations.addHandler(FirstRequestDeadline(timeout: timeout), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
