import NIOConcurrencyHelpers
import NIOCore
import TURN

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

    let bytesPerSecond: Int
    private let buckets: NIOLockedValueBox<(toPeer: TokenBucket, toClient: TokenBucket)>

    init(bytesPerSecond: Int, now: NIODeadline = .now()) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
        let full = TokenBucket(rate: bytesPerSecond, now: Timestamp(nanoseconds: now.uptimeNanoseconds))
        buckets = NIOLockedValueBox((full, full))
    }

    /// Takes as much of `bytes` as the budget allows. `wait`: when the rest is not all taken, how long until the
    /// budget holds it (or a second's worth, when the rest is more than that).
    func take(upTo bytes: Int, _ direction: Direction, now: NIODeadline = .now()) -> (taken: Int, wait: TimeAmount?) {
        let at = Timestamp(nanoseconds: now.uptimeNanoseconds)
        let (taken, shortfall) = buckets.withLockedValue { buckets in
            switch direction {
            case .toPeer: buckets.toPeer.take(upTo: bytes, now: at)
            case .toClient: buckets.toClient.take(upTo: bytes, now: at)
            }
        }
        guard taken < bytes else { return (taken, nil) }
        let nanoseconds = (Double(shortfall) / Double(bytesPerSecond) * 1e9).rounded(.up)
        return (taken, .nanoseconds(max(1_000_000, Int64(nanoseconds))))
    }
}
