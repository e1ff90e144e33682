/// Per-session frame budget (token bucket) plus flood detection: how many frames were refused in the current second.
struct FrameRateLimiter {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var updated: Double
    private var refusedWindowStart: Double = 0
    private(set) var refusedInWindow = 0

    init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
    }

    enum Verdict { case allowed, refused, flood }

    mutating func take(now: Double) -> Verdict {
        tokens = min(burst, tokens + max(0, now - updated) * rate)
        updated = max(updated, now)
        if tokens >= 1 {
            tokens -= 1
            return .allowed
        }
        if now - refusedWindowStart >= 1 {
            refusedWindowStart = now
            refusedInWindow = 0
        }
        refusedInWindow += 1
        return Double(refusedInWindow) > burst * 10 ? .flood : .refused
    }
}
