import Signaling

/// The answer to `GET /v1/poll/{P}`.
enum PollResult: Sendable, Equatable {
    case frames([String])
    case gone(SignalingCloseReason)
    case unknown
}

/// An answer owed to the poll request holding `ticket`.
struct PollAnswer: Equatable {
    var ticket: UInt64
    var result: PollResult
}

/// A long-polling session's side of the transport, as plain state: frames waiting for the client, and the ticket
/// of the poll request held open for them. The hub drives it and carries out the answers it returns; the requests
/// themselves (continuations) wait in one table in the hub.
struct PollMailbox {
    let connection: UInt64
    let pollID: String
    /// More frames than this waiting, or more bytes than `byteCapacity`, means the client stopped polling: the
    /// session ends as too slow.
    let capacity: Int
    let byteCapacity: Int
    private(set) var pending: [String] = []
    private var pendingBytes = 0
    /// The poll request held open, if any.
    private(set) var waiting: UInt64?
    /// When the client last had a poll outstanding; a client that stops polling counts as dropped.
    private(set) var lastSeen: Double

    init(connection: UInt64, pollID: String, capacity: Int, byteCapacity: Int = .max, now: Double) {
        self.connection = connection
        self.pollID = pollID
        self.capacity = capacity
        self.byteCapacity = byteCapacity
        self.lastSeen = now
    }

    /// A poll arrives: it takes what is waiting at once, or is held. A poll already held is answered `[]` (the
    /// client gave up on it).
    mutating func poll(ticket: UInt64, now: Double) -> [PollAnswer] {
        lastSeen = now
        if !pending.isEmpty {
            defer {
                pending = []
                pendingBytes = 0
            }
            return [PollAnswer(ticket: ticket, result: .frames(pending))]
        }
        var answers: [PollAnswer] = []
        if let previous = waiting { answers.append(PollAnswer(ticket: previous, result: .frames([]))) }
        waiting = ticket
        return answers
    }

    enum Push: Equatable {
        case answer(PollAnswer)
        case queued
        /// The queue is full: end the session.
        case overflow
    }

    /// A frame for the client: to the held poll, or into the queue.
    mutating func push(_ text: String, now: Double) -> Push {
        if let ticket = waiting {
            waiting = nil
            lastSeen = now
            return .answer(PollAnswer(ticket: ticket, result: .frames([text])))
        }
        let bytes = pendingBytes + text.utf8.count
        // One frame above the byte budget alone still waits, as the replay buffer keeps it.
        guard pending.count < capacity, pending.isEmpty || bytes <= byteCapacity else { return .overflow }
        pending.append(text)
        pendingBytes = bytes
        return .queued
    }

    /// The hold of `ticket` is over: it is answered `[]`, unless it was answered already.
    mutating func holdExpired(ticket: UInt64, now: Double) -> PollAnswer? {
        guard waiting == ticket else { return nil }
        waiting = nil
        lastSeen = now
        return PollAnswer(ticket: ticket, result: .frames([]))
    }

    /// The session is over: the held poll, if any, learns `result`.
    mutating func end(_ result: PollResult) -> PollAnswer? {
        defer { waiting = nil }
        return waiting.map { PollAnswer(ticket: $0, result: result) }
    }

    /// No poll outstanding for longer than `limit` seconds.
    func isIdle(now: Double, limit: Double) -> Bool {
        waiting == nil && now - lastSeen > limit
    }
}
