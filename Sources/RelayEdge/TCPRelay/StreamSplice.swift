import NIOCore

/// One side of a bound RFC 6062 pair: what arrives on this connection is written, as it is, to the partner, and
/// closing either closes both. A partner that stops draining pauses reading here rather than queueing without bound;
/// its splice resumes us when it drains (the two may live on different event loops).
final class StreamSplice: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let partner: any Channel

    init(partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.write(unwrapInboundIn(data), promise: nil)
        if !partner.isWritable {
            context.channel.setOption(.autoRead, value: false).whenFailure { _ in }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner.setOption(.autoRead, value: true).whenFailure { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension StreamSplice {
    /// Turns a client's STUN connection into the data connection of peer connection `peer`: the ConnectionBind
    /// success goes out first, then framing and the idle timeout leave the pipeline (the connection no longer
    /// speaks STUN, and a quiet TCP stream is not an idle client), and each side starts carrying the other's bytes.
    /// The STUN handler stays at the end, so closing still releases its connection slot and reaches the TURN core.
    static func join(data: any Channel, response: ByteBuffer, peer: any Channel) {
        data.eventLoop.execute {
            do {
                data.writeAndFlush(response, promise: nil)
                let pipeline = data.pipeline.syncOperations
                let stun = try pipeline.handler(type: STUNStreamHandler.self)
                try pipeline.addHandler(StreamSplice(partner: peer), position: .before(stun))
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
                try peer.pipeline.syncOperations.addHandler(StreamSplice(partner: data))
                // Reading was held since the connection opened: what the peer sent meanwhile waited in the kernel.
                peer.setOption(.autoRead, value: true).whenFailure { _ in }
            } catch {
                data.close(promise: nil)
                peer.close(promise: nil)
            }
        }
    }
}
