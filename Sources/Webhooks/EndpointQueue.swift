import DequeModule
import Foundation

/// One endpoint's queue as state, without I/O: what is accepted but not yet on disk, what is on disk waiting
/// (the head is the one being sent), how far delivery has got, and the counts. The endpoint keeps it under a lock
/// and turns what these methods return into writes, requests and wake-ups.
struct EndpointQueue {
    /// An event accepted by `offer`, before it has a place in the log.
    struct Accepted: Sendable {
        var id: String
        var event: WebhookEvent
        var acceptedAt: Date
    }

    /// What the log writer should do next.
    struct Work {
        var events: [Accepted]
        /// A finished record to write, when delivery has moved since the last one.
        var finishedThrough: UInt64?
        /// Nothing on disk is undelivered and nothing new is coming in this batch: empty the log.
        var everythingFinished: Bool
    }

    let limit: Int
    private(set) var unwritten: [Accepted] = []
    private(set) var ready: Deque<StoredEvent>
    /// Taken by the writer and not yet back from disk: still undelivered, so still counted.
    private var beingWritten: (count: Int, oldest: Date?) = (0, nil)
    private(set) var finishedThrough: UInt64 = 0
    private var finishedWritten: UInt64 = 0
    /// Whether the log may hold records (so an empty queue still gets one reset).
    private var logDirty: Bool
    private(set) var isClosed = false
    private(set) var counts = Counts()

    struct Counts: Sendable, Equatable {
        var delivered = 0
        var failed = 0
        var rejected = 0
        var dropped = 0
    }

    init(limit: Int, recovered: [StoredEvent]) {
        self.limit = limit
        ready = Deque(recovered)
        logDirty = !recovered.isEmpty
    }

    var depth: Int { unwritten.count + beingWritten.count + ready.count }
    var head: StoredEvent? { ready.first }
    var oldestAcceptedAt: Date? { ready.first?.acceptedAt ?? beingWritten.oldest ?? unwritten.first?.acceptedAt }

    /// Takes an event unless the queue is full or closed (then it is counted as dropped). `wakeWriter`: the writer
    /// may be asleep (the first unwritten event since it last looked).
    mutating func offer(_ event: Accepted) -> (accepted: Bool, wakeWriter: Bool) {
        guard !isClosed, depth < limit else {
            counts.dropped += 1
            return (false, false)
        }
        unwritten.append(event)
        return (true, unwritten.count == 1)
    }

    /// What the writer has to do now; nil when nothing.
    mutating func takeWork() -> Work? {
        let events = unwritten
        unwritten.removeAll(keepingCapacity: true)
        let finished = finishedThrough > finishedWritten ? finishedThrough : nil
        let empty = ready.isEmpty && events.isEmpty && logDirty
        guard !events.isEmpty || finished != nil || empty else { return nil }
        finishedWritten = finishedThrough
        beingWritten = (events.count, events.first?.acceptedAt)
        if empty { logDirty = false }
        if !events.isEmpty { logDirty = true }
        return Work(events: events, finishedThrough: finished, everythingFinished: empty)
    }

    /// Events now on disk join the delivery line. Returns whether the sender may be waiting for them.
    mutating func written(_ events: [StoredEvent]) -> Bool {
        let wasEmpty = ready.isEmpty
        beingWritten = (0, nil)
        ready.append(contentsOf: events)
        return wasEmpty && !events.isEmpty
    }

    /// Deliveries recorded in one finished record at most, while a stream of events keeps the queue busy. Waking
    /// the writer for every delivery cost a thread hop and a write per event; an unrecorded delivery only means
    /// the event is sent again after a crash.
    static let finishedBatch: UInt64 = 128

    /// The head left the queue. Returns whether to wake the writer: when the queue has emptied (the log can be
    /// cut back) or `finishedBatch` deliveries are unrecorded.
    @discardableResult
    mutating func finishHead(_ result: DeliveryResult) -> Bool {
        guard let head = ready.popFirst() else { return false }
        finishedThrough = max(finishedThrough, head.sequence)
        switch result {
        case .delivered: counts.delivered += 1
        case .rejected: counts.rejected += 1
        case .failed: counts.failed += 1
        }
        return ready.isEmpty || finishedThrough - finishedWritten >= Self.finishedBatch
    }

    /// No more offers; what is queued stays for the next start.
    mutating func close() {
        isClosed = true
    }
}
