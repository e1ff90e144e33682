import STUN

/// A bound channel as a kernel fast path forwards it, both ways: ChannelData from the client on `channel` goes to
/// `peer` from `relay`, and datagrams from `peer` to `relay` go back to the client on `channel`, until `expiry`.
///
/// The core hands these to its edge (`TURNAction.routeChannel`) only for what it would relay itself without looking
/// further: a UDP client, a UDP relay, IPv4, a permitted peer, no per-allocation rate limit. `expiry` is the earlier
/// of the channel's and the permission's, so the kernel stops exactly when the core would.
public struct ChannelRoute: Hashable, Sendable {
    public var fiveTuple: FiveTuple
    public var channel: UInt16
    public var relay: TransportAddress
    public var peer: TransportAddress
    public var expiry: Timestamp
    public var dontFragment: Bool

    /// What identifies the route (the expiry and flags may change under it).
    public var key: Key { Key(fiveTuple: fiveTuple, channel: channel) }

    public struct Key: Hashable, Sendable {
        public var fiveTuple: FiveTuple
        public var channel: UInt16
    }

    public init(fiveTuple: FiveTuple, channel: UInt16, relay: TransportAddress, peer: TransportAddress,
                expiry: Timestamp, dontFragment: Bool) {
        self.fiveTuple = fiveTuple
        self.channel = channel
        self.relay = relay
        self.peer = peer
        self.expiry = expiry
        self.dontFragment = dontFragment
    }
}

/// What a fast path forwarded on one route since it last reported: the same four figures an allocation keeps.
public typealias KernelRouteCounts = AllocationTraffic.Snapshot

extension AllocationTraffic.Snapshot {
    public var isZero: Bool { packetsToPeer == 0 && packetsToClient == 0 }
}
