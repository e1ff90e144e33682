import NIOConcurrencyHelpers
import STUN

/// Allocation counts shared by the TURN cores of one server (one core per event loop), so that the total and
/// per-user quotas hold across cores, and the EVEN-PORT reservations, which a client redeems from another socket
/// that the kernel may hand to another core. Only Allocate and allocation removal touch it, never the relay path.
public final class AllocationLedger: Sendable {
    public enum Verdict: Sendable, Equatable {
        case granted
        case userQuotaReached
        case totalQuotaReached
    }

    private struct State {
        var total = 0
        var perUser: [String: Int] = [:]
        var draining = false
        /// Revoked users, each until the Unix second after which any credential it held has expired.
        var revokedUsers: [String: Int64] = [:]
        /// Signaling sessions alive now: a credential bound to a session (`EXPIRY:USER:SESSION`) works only while
        /// its session does. Bounded by the signaling session limit.
        var liveSessions: Set<String> = []
        var checksSessions = false
        /// RESERVATION-TOKEN → the reserved relay address and until when it holds; pruned as it grows.
        var reservations: [UInt64: (address: TransportAddress, expiry: Timestamp)] = [:]
        var pruneAt = 64
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

    /// Makes a reservation a core booked redeemable on every core.
    func recordReservation(_ token: UInt64, address: TransportAddress, until expiry: Timestamp, now: Timestamp) {
        state.withLockedValue { state in
            state.reservations[token] = (address, expiry)
            // Unredeemed reservations lapse after seconds; dropping them in bulk keeps the table bounded by the
            // Allocates of that window at constant cost per Allocate.
            if state.reservations.count >= state.pruneAt {
                state.reservations = state.reservations.filter { now < $0.value.expiry }
                state.pruneAt = max(64, state.reservations.count * 2)
            }
        }
    }

    /// Reservations recorded and not yet pruned (tests).
    var reservationCount: Int { state.withLockedValue { $0.reservations.count } }

    /// Takes a reservation once, whichever core booked it: nil when unknown, already taken or expired.
    func claimReservation(_ token: UInt64, now: Timestamp) -> TransportAddress? {
        state.withLockedValue { state in
            guard let reservation = state.reservations.removeValue(forKey: token), now < reservation.expiry else { return nil }
            return reservation.address
        }
    }

    /// Draining: new allocations are refused (300 to the alternate server when one is configured), existing ones
    /// are served until they end.
    public var isDraining: Bool {
        get { state.withLockedValue { $0.draining } }
        set { state.withLockedValue { $0.draining = newValue } }
    }

    /// Refuses `user`'s credentials until `until` (Unix seconds): those issued before the revocation expire by then.
    public func revoke(user: String, until: Int64) {
        state.withLockedValue { $0.revokedUsers[user] = max($0.revokedUsers[user] ?? 0, until) }
    }

    /// A signaling session began: credentials bound to it work from now on. The first call turns the check on
    /// (a relay without signaling in the same process does not check sessions).
    public func sessionStarted(_ session: String) {
        state.withLockedValue {
            $0.checksSessions = true
            $0.liveSessions.insert(session)
        }
    }

    /// A signaling session ended: credentials bound to it are refused from now on.
    public func sessionEnded(_ session: String) {
        state.withLockedValue { _ = $0.liveSessions.remove(session) }
    }

    /// Whether a credential is refused: its user is revoked and the revocation still runs, or it is bound to a
    /// session that is not alive. Expired revocations are forgotten here.
    public func isRevoked(user: String, session: String?, unixTime: Int64) -> Bool {
        state.withLockedValue { state in
            if let until = state.revokedUsers[user] {
                if until > unixTime { return true }
                state.revokedUsers[user] = nil
            }
            if let session, state.checksSessions, !state.liveSessions.contains(session) { return true }
            return false
        }
    }
}
