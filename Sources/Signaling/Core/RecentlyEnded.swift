/// Why recently ended things (sessions by resume token, long-polling ids) ended, so a late client learns the
/// reason instead of a generic refusal. Bounded: past `capacity` entries the oldest tenth is forgotten.
public struct RecentlyEnded: Sendable {
    private var reasons: [String: SignalingCloseReason] = [:]
    private var order: [String] = []
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    public mutating func remember(_ key: String, _ reason: SignalingCloseReason) {
        if reasons.updateValue(reason, forKey: key) == nil { order.append(key) }
        if order.count > capacity {
            let dropped = max(1, capacity / 10)
            for old in order.prefix(dropped) { reasons[old] = nil }
            order.removeFirst(dropped)
        }
    }

    public func reason(for key: String) -> SignalingCloseReason? { reasons[key] }

    /// The reason, forgotten once read.
    public mutating func take(_ key: String) -> SignalingCloseReason? { reasons.removeValue(forKey: key) }
}
