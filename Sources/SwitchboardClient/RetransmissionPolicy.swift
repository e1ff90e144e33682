import NIOCore

/// When to resend a request over UDP and when to give up (RFC 8489 §6.2.1): the first retransmission after RTO,
/// each later one after twice the previous wait, at most `maxRequests` sends, then `finalWaitMultiplier` × RTO for
/// the last answer. The RFC's defaults (500 ms, 7, 16) give up after 39.5 s.
public struct RetransmissionPolicy: Sendable, Equatable {
    public var initialRTO: TimeAmount
    public var maxRequests: Int
    public var finalWaitMultiplier: Int64

    public init(initialRTO: TimeAmount = .milliseconds(500), maxRequests: Int = 7, finalWaitMultiplier: Int64 = 16) {
        self.initialRTO = initialRTO
        self.maxRequests = max(1, maxRequests)
        self.finalWaitMultiplier = max(1, finalWaitMultiplier)
    }

    public static let rfc8489 = RetransmissionPolicy()

    /// The delay after each send before the next send (or, after the last one, before giving up).
    public var waits: [TimeAmount] {
        var result: [TimeAmount] = []
        var rto = initialRTO
        for _ in 1..<maxRequests {
            result.append(rto)
            rto = rto * 2
        }
        result.append(initialRTO * finalWaitMultiplier)
        return result
    }

    public var totalTime: TimeAmount { waits.reduce(.zero, +) }
}
