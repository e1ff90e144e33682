/// A snapshot of what a running server holds, taken through `SwitchboardService.inspect()`. Tests read it today;
/// the admin API and the metrics endpoint will serve the same figures.
public struct ServerInspection: Sendable, Equatable {
    /// Allocations on each TURN core, in core order.
    public var allocationsPerCore: [Int]
    /// Open relay sockets on all cores.
    public var relaySockets: Int
    public var signalingSessions: Int
    public var rooms: Int
    /// Long-polling ids that still lead to a session.
    public var pollIDs: Int
    /// Open HTTP connections, and the addresses (IPv6: /64s) they come from.
    public var httpConnections: Int
    public var httpAddresses: Int
    public var stun: STUNFigures

    public struct STUNFigures: Sendable, Equatable {
        public var responses: Int
        public var dropped: Int
        public var tcpConnections: Int
        public var tcpRefused: Int
    }

    public var allocations: Int { allocationsPerCore.reduce(0, +) }
}
