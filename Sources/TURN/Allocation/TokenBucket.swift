/// A byte-rate limiter: `rate` bytes per second with a burst of one second's worth.
struct TokenBucket: Sendable {
    let rate: Int
    private var tokens: Double
    private var updated: Timestamp

    init(rate: Int, now: Timestamp) {
        self.rate = rate
        self.tokens = Double(rate)
        self.updated = now
    }

    /// Takes `bytes` if available; false means the packet must be dropped.
    mutating func take(_ bytes: Int, now: Timestamp) -> Bool {
        guard rate > 0 else { return true }
        tokens = min(Double(rate), tokens + updated.seconds(until: now) * Double(rate))
        updated = max(updated, now)
        guard tokens >= Double(bytes) else { return false }
        tokens -= Double(bytes)
        return true
    }
}
