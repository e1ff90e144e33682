import Atomics

/// Process-wide STUN counters, read by tests now and by the metrics endpoint later.
package final class STUNCounters: Sendable {
    public let responses = ManagedAtomic<Int>(0)
    public let dropped = ManagedAtomic<Int>(0)
    public let tcpConnections = ManagedAtomic<Int>(0)
    public let tcpRefused = ManagedAtomic<Int>(0)

    public init() {}
}
