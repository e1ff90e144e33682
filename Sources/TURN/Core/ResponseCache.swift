import NIOCore
import STUN

/// Recent responses by 5-tuple and transaction id, so a retransmitted request gets the same answer and causes no
/// second side effect (RFC 8489 §6.3.1). Entries live as long as a client may retransmit (about 40 s); the cache
/// is bounded and forgets the oldest entries first.
struct ResponseCache {
    private struct Key: Hashable {
        var fiveTuple: FiveTuple
        var transactionID: TransactionID
    }

    private var entries: [Key: ByteBuffer] = [:]
    private var order: [(Key, Timestamp)] = []
    private var head = 0
    let capacity: Int
    let lifetime: UInt32

    init(capacity: Int = 65_536, lifetime: UInt32 = 40) {
        self.capacity = capacity
        self.lifetime = lifetime
    }

    var count: Int { entries.count }

    func lookup(_ fiveTuple: FiveTuple, _ id: TransactionID) -> ByteBuffer? {
        entries[Key(fiveTuple: fiveTuple, transactionID: id)]
    }

    mutating func store(_ response: ByteBuffer, for fiveTuple: FiveTuple, _ id: TransactionID, now: Timestamp) {
        let key = Key(fiveTuple: fiveTuple, transactionID: id)
        if entries.updateValue(response, forKey: key) == nil {
            order.append((key, now.adding(seconds: lifetime)))
        }
        while entries.count > capacity { evictOldest() }
    }

    mutating func expire(now: Timestamp) {
        while head < order.count, !(now < order[head].1) { evictOldest() }
    }

    private mutating func evictOldest() {
        guard head < order.count else { return }
        entries[order[head].0] = nil
        head += 1
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
