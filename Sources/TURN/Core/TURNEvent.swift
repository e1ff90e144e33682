import STUN

/// A lifecycle event of the TURN core, emitted as an action (`TURNAction.event`) when it happens: never one per
/// packet. Webhooks, metrics, logs and the admin API consume these.
public enum TURNEvent: Sendable, Equatable {
    case allocationCreated(AllocationSummary)
    case allocationRefreshed(FiveTuple, lifetime: UInt32)
    case allocationClosed(AllocationSummary, reason: AllocationEndReason, traffic: AllocationTraffic.Snapshot)
    case permissionCreated(FiveTuple, peer: IPAddress)
    case channelBound(FiveTuple, channel: UInt16, peer: TransportAddress)
    /// An Allocate refused by a quota: 486 (the user's) or 508 (the server's).
    case quotaRefused(username: String, code: UInt16)
    /// A request named a peer the policy denies (403).
    case peerDenied(FiveTuple, username: String, peer: IPAddress)
}

/// Who holds an allocation and what it relays, as events and the admin API report it.
public struct AllocationSummary: Sendable, Equatable {
    public var fiveTuple: FiveTuple
    public var username: String
    public var relays: [TransportAddress]
    public var relayProtocol: RelayProtocol
    public var lifetime: UInt32
}

public enum AllocationEndReason: String, Sendable, Equatable {
    /// Refresh with LIFETIME 0.
    case deleted
    case expired
    /// The client's TCP or TLS connection closed.
    case connectionClosed = "connection-closed"
    /// Ended by the operator (admin API), or its credentials were revoked.
    case revoked
}

/// Bytes and packets an allocation relayed each way. A reference, so the packet path counts into it through the
/// copy of the allocation it already holds, without writing the allocation back. Confined to the core's loop like
/// the core; what leaves it is a `Snapshot`.
public final class AllocationTraffic {
    public private(set) var bytesToPeer = 0
    public private(set) var packetsToPeer = 0
    public private(set) var bytesToClient = 0
    public private(set) var packetsToClient = 0

    public struct Snapshot: Sendable, Equatable {
        public var bytesToPeer: Int
        public var packetsToPeer: Int
        public var bytesToClient: Int
        public var packetsToClient: Int

        public init(bytesToPeer: Int = 0, packetsToPeer: Int = 0, bytesToClient: Int = 0, packetsToClient: Int = 0) {
            self.bytesToPeer = bytesToPeer
            self.packetsToPeer = packetsToPeer
            self.bytesToClient = bytesToClient
            self.packetsToClient = packetsToClient
        }
    }

    init() {}

    func toPeer(_ bytes: Int) {
        bytesToPeer &+= bytes
        packetsToPeer &+= 1
    }

    func toClient(_ bytes: Int) {
        bytesToClient &+= bytes
        packetsToClient &+= 1
    }

    /// What a kernel fast path forwarded for this allocation.
    func add(_ counts: KernelRouteCounts) {
        bytesToPeer &+= counts.bytesToPeer
        packetsToPeer &+= counts.packetsToPeer
        bytesToClient &+= counts.bytesToClient
        packetsToClient &+= counts.packetsToClient
    }

    public var snapshot: Snapshot {
        Snapshot(bytesToPeer: bytesToPeer, packetsToPeer: packetsToPeer, bytesToClient: bytesToClient,
                 packetsToClient: packetsToClient)
    }
}
