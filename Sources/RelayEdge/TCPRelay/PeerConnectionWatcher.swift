import NIOCore
import STUN

/// Sits on every TCP connection between a relay address and a peer (RFC 6062) and tells the TURN edge when one
/// arrives on a relay listener and when one ends, so the core's bookkeeping follows the sockets.
final class PeerConnectionWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// Set for connections accepted on a relay listener: the relay address they arrived on.
    private let acceptedOn: TransportAddress?
    private let edge: TURNEdgeHandle

    init(edge: TURNEdgeHandle, acceptedOn relay: TransportAddress?) {
        self.edge = edge
        self.acceptedOn = relay
    }

    func channelActive(context: ChannelHandlerContext) {
        if let relay = acceptedOn {
            if let peer = context.remoteAddress.flatMap(TransportAddress.init) {
                edge.peerConnectionArrived(relay: relay, peer: peer, channel: context.channel)
            } else {
                context.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        edge.peerConnectionEnded(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
