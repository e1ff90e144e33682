/// A byte-rate limiter: `rate` bytes per second with a burst of one second's worth.
public struct TokenBucket: Sendable {
    public let rate: Int
    private var tokens: Double
    private var updated: Timestamp

    public init(rate: Int, now: Timestamp) {
        self.rate = rate
        self.tokens = Double(rate)
        self.updated = now
    }

    /// Takes `bytes` if available; false means the packet must be dropped.
    mutating func take(_ bytes: Int, now: Timestamp) -> Bool {
        guard rate > 0 else { return true }
        refill(now)
        guard tokens >= Double(bytes) else { return false }
        tokens -= Double(bytes)
        return true
    }

    /// Takes as much of `bytes` as there are tokens for, for a stream that forwards the rest later rather than
    /// dropping it. `shortfall`: how many tokens the rest still lacks, counting at most one second's worth of it.
    public mutating func take(upTo bytes: Int, now: Timestamp) -> (taken: Int, shortfall: Int) {
        guard rate > 0 else { return (bytes, 0) }
        refill(now)
        let taken = min(bytes, Int(tokens))
        tokens -= Double(taken)
        let rest = Double(min(bytes - taken, rate))
        return (taken, Int(max(0, rest - tokens).rounded(.up)))
    }

    private mutating func refill(_ now: Timestamp) {
        tokens = min(Double(rate), tokens + updated.seconds(until: now) * Double(rate))
        updated = max(updated, now)
    }
}
