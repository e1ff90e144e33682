import STUN

/// Limits and lifetimes of the TURN core. Defaults follow RFC 8656 and what coturn operators expect.
public struct TURNConfiguration: Sendable {
    public var realm: String = "switchboard"
    public var software: String? = "Switchboard"
    /// RFC 8656 §3.2: 10 minutes unless the client asks for more, capped at `maximumLifetime`.
    public var defaultLifetime: UInt32 = 600
    public var maximumLifetime: UInt32 = 3600
    public var permissionLifetime: UInt32 = 300
    public var channelLifetime: UInt32 = 600
    /// After a channel binding expires its number and peer stay reserved this long (RFC 8656 §12).
    public var channelCooldown: UInt32 = 300
    /// How long a nonce stays fresh before a request using it gets 438.
    public var nonceLifetime: UInt32 = 3600
    /// How long an EVEN-PORT reservation (RESERVATION-TOKEN) holds the next port.
    public var reservationLifetime: UInt32 = 30

    public var maxAllocations: Int = 50_000
    public var maxAllocationsPerUser: Int = 100
    public var maxPermissionsPerAllocation: Int = 256
    public var maxChannelsPerAllocation: Int = 256
    /// TCP connections to peers (RFC 6062) each TCP allocation may hold, pending or bound.
    public var maxPeerConnectionsPerAllocation: Int = 64
    /// How long a peer connection waits for the client's ConnectionBind, and a Connect for the peer (RFC 6062 §5.2).
    public var peerConnectionTimeout: UInt32 = 30
    /// Relayed bytes per second per allocation in each direction; 0 means no limit.
    public var maxBytesPerSecondPerAllocation: Int = 0
    /// Hand bound channels to a kernel fast path (`TURNAction.routeChannel`); off unless the edge has one.
    public var kernelRoutes = false
    /// Hand bound channels of TCP and TLS clients to the connection's own thread (`TURNAction.routeChannel` with a
    /// stream five-tuple), which then sends their ChannelData to the peer itself; off unless the edge can.
    public var streamRoutes = false

    /// IPv4 relay address; nil means "the server address the client reached" (a wildcard listener).
    public var relayIPv4: IPAddress?
    /// IPv6 relay address; nil means IPv6 relays only when the client reached us over IPv6.
    public var relayIPv6: IPAddress?
    /// Addresses advertised in XOR-RELAYED-ADDRESS instead of the bound ones (1:1 NAT, like coturn's external-ip).
    public var externalIPv4: IPAddress?
    public var externalIPv6: IPAddress?
    public var relayPorts: ClosedRange<UInt16> = 49152...65535
    /// Where a draining server sends new allocations (300 with ALTERNATE-SERVER); nil refuses them with 508.
    public var alternateServer: TransportAddress?

    public init() {}
}
