import STUN

/// What an allocation relays to its peers: UDP datagrams (RFC 8656) or TCP connections (RFC 6062).
public enum RelayProtocol: UInt8, Sendable {
    case udp = 17
    case tcp = 6
}

/// One TCP connection between a TCP allocation's relay address and a peer (RFC 6062), from the client's Connect or
/// from the peer connecting in, until a data connection from the client is bound to it with ConnectionBind.
struct PeerConnection {
    enum State {
        /// The server is connecting to the peer for this Connect request.
        case connecting(request: STUNMessage, auth: AuthenticatedUser)
        /// Connected; a ConnectionBind must arrive before `deadline` (RFC 6062 §5.2, §5.3).
        case awaitingBind(deadline: Timestamp)
        /// Spliced to the client's data connection: bytes flow in the edge, the core only remembers the pairing.
        case bound(data: FiveTuple)
    }

    let id: UInt32
    /// The control connection whose allocation this belongs to.
    let owner: FiveTuple
    let peer: TransportAddress
    let relay: TransportAddress
    var state: State
}
