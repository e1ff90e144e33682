import Atomics

/// Process-wide STUN counters, read by tests now and by the metrics endpoint later.
package final class STUNCounters: Sendable {
    public let responses = ManagedAtomic<Int>(0)
    public let dropped = ManagedAtomic<Int>(0)
    public let tcpConnections = ManagedAtomic<Int>(0)
    public let tcpRefused = ManagedAtomic<Int>(0)
    /// 401s that stream connections' threads answered themselves (`StreamChallenger`), for the TURN figures.
    public let streamChallenges = ManagedAtomic<Int>(0)

    public init() {}
}
