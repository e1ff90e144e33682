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
    /// Close the relay socket on this address.
    case closeRelay(TransportAddress)
}
