import NIOCore
import STUN

/// What the TURN core asks its edge to do.
public enum TURNAction: Sendable {
    /// Send bytes to the client over its 5-tuple.
    case toClient(ByteBuffer, FiveTuple)
    /// Send a datagram from a relay socket to a peer.
    case toPeer(ByteBuffer, relay: TransportAddress, peer: TransportAddress)
    /// Bind a relay socket on this address; answer with `relayOpened` or `relayFailed`.
    case openRelay(TransportAddress, dontFragment: Bool)
    /// Close the relay socket (or TCP relay listener) on this address.
    case closeRelay(TransportAddress)

    // RFC 6062 TCP relays.
    /// Listen for peers' TCP connections on this relay address; answer with `relayOpened` or `relayFailed`.
    case openTCPRelay(TransportAddress)
    /// Connect from the relay address to the peer, holding what the peer sends until the connection is bound; answer
    /// with `peerConnected` or `peerConnectionFailed`.
    case connectPeer(UInt32, relay: TransportAddress, peer: TransportAddress)
    /// Send `response` on the data connection, then splice it to peer connection `id`: from here on each carries
    /// the other's bytes as they are. `relay` names the TCP allocation, whose data connections share its byte rate.
    case bindConnection(UInt32, data: FiveTuple, relay: TransportAddress, response: ByteBuffer)
    /// Close peer connection `id` (and the data connection bound to it).
    case closePeerConnection(UInt32)

    // The kernel fast path (only with `TURNConfiguration.kernelRoutes`).
    /// Forward this channel in the kernel until its expiry (installs it, or updates the expiry of an installed one).
    case routeChannel(ChannelRoute)
    /// Stop forwarding this channel in the kernel; answer with `kernelRouteRemoved` even when it was not installed.
    case unrouteChannel(ChannelRoute)

    /// Tell the operator's side (webhooks, metrics, logs); nothing to send.
    case event(TURNEvent)
}
