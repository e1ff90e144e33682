import NIOCore
import STUN

/// A channel binding: the peer a channel number stands for, until `expiry`.
struct ChannelBinding: Sendable {
    var peer: TransportAddress
    var expiry: Timestamp
}

/// One allocation (RFC 8656 §2.2): relayed transport addresses on the server, owned by one client 5-tuple, with
/// its permissions and channel bindings.
///
/// A class, owned by the core's table alone: every relayed packet reaches its allocation through the table, and a
/// struct there could only be changed in place through the dictionary's `_modify` accessor, whose coroutine frame
/// (holding the whole value moved out of storage) was heap-allocated three times per packet (`server-mallocs`);
/// reading a struct out instead retains every field.
final class Allocation {
    enum State {
        /// Relay sockets are being opened; the Allocate success response goes out when all are open.
        case opening(remaining: Int, attempts: Int)
        case active
    }

    let fiveTuple: FiveTuple
    let username: String
    let auth: AuthenticatedUser
    var state: State
    /// Bound relay addresses (one per address family) and what XOR-RELAYED-ADDRESS advertises for each.
    var relays: [TransportAddress]
    var advertised: [TransportAddress]
    var expiry: Timestamp
    var lifetime: UInt32
    var dontFragment: Bool

    /// The Allocate request this allocation answers, so a retransmission gets the same response.
    let allocateTransactionID: TransactionID
    let allocateCookie: UInt32
    var allocateResponse: ByteBuffer?
    /// RESERVATION-TOKEN to return (EVEN-PORT with R set) and ADDRESS-ERROR-CODE for a refused second family.
    var reservationToken: UInt64?
    /// What the first relay's port had to be (EVEN-PORT, the port a RESERVATION-TOKEN named, or a port whose
    /// neighbour this allocation reserved): a retry after a failed bind must keep to it.
    var portRule: RelayPortRule = .any
    var addressError: (AddressFamily, STUNErrorCode)?

    var permissions: [IPAddress: Timestamp] = [:]
    var channels: [UInt16: ChannelBinding] = [:]
    var channelByPeer: [TransportAddress: UInt16] = [:]
    /// Expired bindings stay here until their cooldown ends, so the number is not rebound to another peer.
    var channelCooldowns: [UInt16: ChannelBinding] = [:]

    var toPeerBucket: TokenBucket
    var toClientBucket: TokenBucket

    /// UDP, or TCP (RFC 6062): then the relay addresses are listening TCP sockets and `peerConnections` holds the
    /// connections to peers by peer address.
    var relayProtocol: RelayProtocol = .udp
    var peerConnections: [TransportAddress: UInt32] = [:]

    var createdAt: Timestamp
    let traffic = AllocationTraffic()
    /// Set as the core removes it from its table: an edge holding it (`RelayOwner`) then relays nothing more for it.
    var isDeleted = false

    init(fiveTuple: FiveTuple, username: String, auth: AuthenticatedUser, state: State, relays: [TransportAddress],
         advertised: [TransportAddress], expiry: Timestamp, lifetime: UInt32, dontFragment: Bool,
         allocateTransactionID: TransactionID, allocateCookie: UInt32, reservationToken: UInt64?,
         addressError: (AddressFamily, STUNErrorCode)?, toPeerBucket: TokenBucket, toClientBucket: TokenBucket,
         relayProtocol: RelayProtocol, createdAt: Timestamp) {
        self.fiveTuple = fiveTuple
        self.username = username
        self.auth = auth
        self.state = state
        self.relays = relays
        self.advertised = advertised
        self.expiry = expiry
        self.lifetime = lifetime
        self.dontFragment = dontFragment
        self.allocateTransactionID = allocateTransactionID
        self.allocateCookie = allocateCookie
        self.reservationToken = reservationToken
        self.addressError = addressError
        self.toPeerBucket = toPeerBucket
        self.toClientBucket = toClientBucket
        self.relayProtocol = relayProtocol
        self.createdAt = createdAt
    }

    var summary: AllocationSummary {
        AllocationSummary(fiveTuple: fiveTuple, username: username, relays: advertised, relayProtocol: relayProtocol,
                          lifetime: lifetime)
    }

    func hasPermission(_ ip: IPAddress, now: Timestamp) -> Bool {
        guard let expiry = permissions[ip] else { return false }
        return now < expiry
    }

    /// A plain loop: `first(where:)` retained the array per relayed packet.
    func relay(for family: AddressFamily) -> TransportAddress? {
        for relay in relays where relay.ip.family == family { return relay }
        return nil
    }

    var families: [AddressFamily] { relays.map(\.ip.family) }
}

/// What a relay port must be, as the Allocate asked (RFC 8656 §7.2).
enum RelayPortRule {
    case any
    case even
    /// The one port a reservation kept, or the one beside the port this allocation reserved: no other will do.
    case reserved
}
