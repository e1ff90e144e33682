import NIOConcurrencyHelpers

/// Allocation counts shared by the TURN cores of one server (one core per event loop), so that the total and
/// per-user quotas hold across cores. Only Allocate and allocation removal touch it, never the relay path.
public final class AllocationLedger: Sendable {
    public enum Verdict: Sendable, Equatable {
        case granted
        case userQuotaReached
        case totalQuotaReached
    }

    private struct State {
        var total = 0
        var perUser: [String: Int] = [:]
    }

    private let state = NIOLockedValueBox(State())
    public let maxTotal: Int
    public let maxPerUser: Int

    public init(maxTotal: Int, maxPerUser: Int) {
        self.maxTotal = maxTotal
        self.maxPerUser = maxPerUser
    }

    /// Counts one more allocation for `user` if both quotas allow it.
    public func reserve(_ user: String) -> Verdict {
        state.withLockedValue { state in
            if state.perUser[user, default: 0] >= maxPerUser { return .userQuotaReached }
            if state.total >= maxTotal { return .totalQuotaReached }
            state.perUser[user, default: 0] += 1
            state.total += 1
            return .granted
        }
    }

    public func release(_ user: String) {
        state.withLockedValue { state in
            guard let count = state.perUser[user] else { return }
            state.perUser[user] = count > 1 ? count - 1 : nil
            state.total -= 1
        }
    }

    public var total: Int { state.withLockedValue { $0.total } }
}
