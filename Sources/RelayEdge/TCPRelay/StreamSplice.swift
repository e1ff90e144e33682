import NIOCore

/// One side of a bound RFC 6062 pair: what arrives on this connection is written, as it is, to the partner, and
/// closing either closes both. Reading here pauses while the partner is not draining (rather than queueing without
/// bound) and while the allocation's byte rate (`max-bps`) is spent: then what the last read brought beyond the
/// budget waits here and goes out as the budget refills. The partner's splice tells us when it drains (the two may
/// live on different event loops).
final class StreamSplice: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    /// Sent through the reading side's pipeline by its partner's splice when the partner can take bytes again.
    struct PartnerDrained: Sendable {}

    private let partner: any Channel
    private let meter: StreamRelayMeter
    private let direction: StreamRateLimit.Direction
    private var waitingForPartner = false
    /// Read but over the rate: at most one read's worth, since reading stops until it has gone.
    private var held: ByteBuffer?
    private var release: Scheduled<Void>?

    init(partner: any Channel, meter: StreamRelayMeter, direction: StreamRateLimit.Direction) {
        self.partner = partner
        self.meter = meter
        self.direction = direction
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if let rate = meter.rate {
            // A read that arrives while bytes are held (reading had not stopped yet) queues behind them.
            if var waiting = held {
                waiting.writeBuffer(&bytes)
                held = waiting
                return
            }
            let (taken, wait) = rate.take(upTo: bytes.readableBytes, direction)
            if let wait {
                held = bytes.getSlice(at: bytes.readerIndex + taken, length: bytes.readableBytes - taken)
                bytes = bytes.getSlice(at: bytes.readerIndex, length: taken)!
                pause(context)
                scheduleRelease(context, in: wait)
            }
        }
        forward(bytes, context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner.pipeline.fireUserInboundEventTriggered(PartnerDrained())
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is PartnerDrained else { return context.fireUserInboundEventTriggered(event) }
        waitingForPartner = false
        resumeIfFree(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release?.cancel()
        release = nil
        // What the sender got off before it closed still reaches the other side: one read's worth at most.
        if let held {
            self.held = nil
            meter.count(held.readableBytes, direction)
            partner.writeAndFlush(held, promise: nil)
        }
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func forward(_ bytes: ByteBuffer, _ context: ChannelHandlerContext) {
        guard bytes.readableBytes > 0 else { return }
        meter.count(bytes.readableBytes, direction)
        partner.write(bytes, promise: nil)
        if !partner.isWritable {
            waitingForPartner = true
            pause(context)
        }
    }

    private func scheduleRelease(_ context: ChannelHandlerContext, in wait: TimeAmount) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        release = context.eventLoop.scheduleTask(in: wait) {
            let (splice, context) = loopBound.value
            splice.release = nil
            splice.releaseHeld(context)
        }
    }

    /// Forwards as much of what is held as the budget now allows; reads again once nothing is.
    private func releaseHeld(_ context: ChannelHandlerContext) {
        guard var waiting = held, let rate = meter.rate else { return resumeIfFree(context) }
        let (taken, wait) = rate.take(upTo: waiting.readableBytes, direction)
        forward(waiting.readSlice(length: taken)!, context)
        partner.flush()
        if let wait {
            held = waiting
            scheduleRelease(context, in: wait)
        } else {
            held = nil
            resumeIfFree(context)
        }
    }

    private func pause(_ context: ChannelHandlerContext) {
        context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
    }

    /// Reads again unless the partner is still full (a drained notice can be stale) or bytes are still held.
    private func resumeIfFree(_ context: ChannelHandlerContext) {
        if waitingForPartner, !partner.isWritable { return }
        waitingForPartner = false
        guard held == nil, context.channel.isActive else { return }
        context.channel.setOption(.autoRead, value: true).whenFailure { _ in }
    }
}

extension StreamSplice {
    /// Turns a client's STUN connection into the data connection of peer connection `peer`: the ConnectionBind
    /// success goes out first, then framing and the idle timeout leave the pipeline (the connection no longer
    /// speaks STUN, and a quiet TCP stream is not an idle client), and each side starts carrying the other's bytes.
    /// The STUN handler stays at the end, so closing still releases its connection slot and reaches the TURN core.
    /// `meter`: the allocation's, shared with its other data connections.
    static func join(data: any Channel, response: ByteBuffer, peer: any Channel, meter: StreamRelayMeter) {
        data.eventLoop.execute {
            do {
                data.writeAndFlush(response, promise: nil)
                let pipeline = data.pipeline.syncOperations
                let stun = try pipeline.handler(type: STUNStreamHandler.self)
                try pipeline.addHandler(StreamSplice(partner: peer, meter: meter, direction: .toPeer), position: .before(stun))
                // Whatever the framer still holds goes to the splice as it leaves.
                pipeline.removeHandler(try pipeline.handler(type: ByteToMessageHandler<STUNStreamFramer>.self), promise: nil)
                pipeline.removeHandler(try pipeline.handler(type: IdleStateHandler.self), promise: nil)
            } catch {
                data.close(promise: nil)
                peer.close(promise: nil)
            }
        }
        peer.eventLoop.execute {
            do {
                try peer.pipeline.syncOperations.addHandler(StreamSplice(partner: data, meter: meter, direction: .toClient))
                // Reading was held since the connection opened: what the peer sent meanwhile waited in the kernel.
                peer.setOption(.autoRead, value: true).whenFailure { _ in }
            } catch {
                data.close(promise: nil)
                peer.close(promise: nil)
            }
        }
    }
}
