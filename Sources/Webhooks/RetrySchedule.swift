/// The wait before each retry: `first`, doubled per failed attempt up to `cap`, each scaled by a random factor
/// between 0.75 and 1.25 so that many servers retrying the same receiver spread out instead of arriving together.
struct RetrySchedule: Sendable {
    var first: Duration
    var cap: Duration

    /// `failures`: attempts of this event that have failed so far (1 after the first).
    func delay(afterFailures failures: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let doublings = min(max(failures - 1, 0), 30)
        let nominal = min(first * (1 << doublings), cap)
        return nominal * Double.random(in: 0.75...1.25, using: &random)
    }
}
