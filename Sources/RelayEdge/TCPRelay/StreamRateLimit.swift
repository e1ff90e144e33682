import NIOConcurrencyHelpers
import NIOCore

/// `max-bps` for a TCP allocation: every data connection of the allocation draws on one budget per direction, as
/// UDP relays do per allocation, with a burst of one second's worth.
///
/// A stream cannot drop what is over the rate the way a datagram relay drops packets: the splice holds the rest of
/// a read (at most one read's worth, since it stops reading meanwhile) and forwards it as the budget refills, and
/// TCP's own flow control slows the sender. The data connections may live on different event loops, hence the
/// lock: it is taken once per read or release, never per byte.
final class StreamRateLimit: Sendable {
    enum Direction: Sendable {
        case toPeer
        case toClient
    }

    private struct Budget {
        var tokens: Double
        var updated: NIODeadline
    }

    let bytesPerSecond: Int
    private let budgets: NIOLockedValueBox<(toPeer: Budget, toClient: Budget)>

    init(bytesPerSecond: Int, now: NIODeadline = .now()) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
        let full = Budget(tokens: Double(bytesPerSecond), updated: now)
        budgets = NIOLockedValueBox((full, full))
    }

    /// Takes as much of `bytes` as the budget allows. `wait`: when the rest is not all taken, how long until the
    /// budget holds it (or a second's worth, when the rest is more than that).
    func take(upTo bytes: Int, _ direction: Direction, now: NIODeadline = .now()) -> (taken: Int, wait: TimeAmount?) {
        let rate = Double(bytesPerSecond)
        let (taken, shortfall) = budgets.withLockedValue { budgets -> (Int, Double) in
            func take(_ budget: inout Budget) -> (Int, Double) {
                let elapsed = Double(max(0, (now - budget.updated).nanoseconds)) / 1e9
                budget.tokens = min(rate, budget.tokens + elapsed * rate)
                budget.updated = max(budget.updated, now)
                let taken = min(bytes, Int(budget.tokens))
                budget.tokens -= Double(taken)
                let rest = Double(min(bytes - taken, bytesPerSecond))
                return (taken, max(0, rest - budget.tokens))
            }
            switch direction {
            case .toPeer: return take(&budgets.toPeer)
            case .toClient: return take(&budgets.toClient)
            }
        }
        guard taken < bytes else { return (taken, nil) }
        return (taken, .nanoseconds(max(1_000_000, Int64((shortfall / rate * 1e9).rounded(.up)))))
    }
}
