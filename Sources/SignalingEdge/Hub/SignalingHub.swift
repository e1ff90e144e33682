import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Signaling

/// Owns the signaling core and the transports' outlets; every connection, frame and timer goes through it.
///
/// The core is a plain state machine; this actor is the only thing that touches it, and it turns the core's actions
/// into writes on WebSocket connections or long-polling mailboxes.
actor SignalingHub {
    private let core: SignalingCore
    private let logger: Logger
    private var outlets: [String: Outlet] = [:]
    private var sessionByPollID: [String: String] = [:]
    /// Why a long-polling session ended, so its next poll gets 410 with the reason (bounded).
    private var endedPolls = RecentlyEnded()
    private var nextConnection: UInt64 = 1
    /// WebSocket channels on the hub's loop written to during the current batch of actions.
    private var unflushed = UnflushedWriters()
    /// Frames for connections on other loops, per loop, and which of those have frames waiting.
    private let outboundHandoffs: [ObjectIdentifier: OutboundHandoff]
    private var pendingHandoffs: [OutboundHandoff] = []
    /// While a batch of frames from another loop is handled, flushing waits until its end.
    private var inBatch = false
    private var nextTicket: UInt64 = 1
    /// Set by `shutdown`: nothing new attaches while the server winds down.
    private var shuttingDown = false
    let limits: SignalingLimits
    /// Closes queued for a WebSocket connection's task (frames are written straight onto the channel).
    static let writerQueueLimit = 16
    static let pollHold: Double = 25

    /// The hub runs on this event loop; connections live on it and on the other `connectionLoops`.
    nonisolated let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    /// How frames read on each other connection loop reach the hub.
    private nonisolated let inboundHandoffs: [ObjectIdentifier: InboundHandoff]

    init(limits: SignalingLimits, iceServers: @escaping @Sendable (String, String) -> JSONValue, loop: any EventLoop,
         connectionLoops: [any EventLoop] = [], logger: Logger) {
        self.loop = loop
        self.core = SignalingCore(limits: limits, iceServers: iceServers)
        self.limits = limits
        self.logger = logger
        let others = connectionLoops.filter { $0 !== loop }
        outboundHandoffs = Dictionary(uniqueKeysWithValues: others.map { (ObjectIdentifier($0), OutboundHandoff(loop: $0)) })
        let inbound = others.map { InboundHandoff(loop: $0) }
        inboundHandoffs = Dictionary(uniqueKeysWithValues: inbound.map { (ObjectIdentifier($0.loop), $0) })
        for handoff in inbound { handoff.hub = self }
    }

    var sessionCount: Int { core.sessionCount }
    /// Poll ids that still lead to a session: each ended, resumed or idle long-polling session leaves none behind.
    var pollIndexCount: Int { sessionByPollID.count }
    var roomCount: Int { core.roomCount }

    /// Monotonic seconds: the core measures only durations (resume windows, rate limits, idle polls), which must
    /// not jump when the wall clock is stepped.
    private func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }

    private func newConnection() -> UInt64 {
        defer { nextConnection += 1 }
        return nextConnection
    }

    // MARK: WebSocket

    /// Starts or resumes a session for a WebSocket connection. On success the session's frames flow into `stream`.
    func attachWebSocket(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                         writer: WebSocketFrameWriter, continuation: AsyncStream<OutgoingFrame>.Continuation) -> Result<(session: String, connection: UInt64), SignalingCloseReason> {
        let connection = newConnection()
        return startSession(identity: identity, resume: resume, host: host) { _ in
            .webSocket(connection: connection, writer: writer, closer: continuation)
        }.map { ($0, connection) }
    }

    /// Connects or resumes in the core; the outlet is installed before the core's first frames are delivered.
    private func startSession(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                              outlet: (String) -> Outlet) -> Result<String, SignalingCloseReason> {
        guard !shuttingDown else { return .failure(.goingAway) }
        var actions: [SignalingCore.Action] = []
        let result: Result<String, SignalingCloseReason>
        if let resume {
            result = core.resume(token: resume.token, last: resume.last, identity: identity, host: host, now: now(), into: &actions)
            if case .success(let session) = result { detachPrevious(session) }
        } else {
            result = core.connect(identity: identity ?? Identity(user: RandomUser.make()), host: host, now: now(), into: &actions)
        }
        if case .success(let session) = result { outlets[session] = outlet(session) }
        perform(actions)
        return result
    }

    /// `receive` without an actor hop, for the WebSocket readers, which call it on their connection's event loop:
    /// on the hub's loop at once, from another connection loop through that loop's hand-off (in order, batched).
    nonisolated func receiveOnLoop(_ text: String, session: String, connection: UInt64, from connectionLoop: any EventLoop) {
        if loop.inEventLoop {
            assumeIsolated { $0.receive(text, session: session, connection: connection) }
        } else if let handoff = inboundHandoffs[ObjectIdentifier(connectionLoop)], connectionLoop.inEventLoop {
            handoff.add(text, session: session, connection: connection)
        } else {
            loop.execute { self.assumeIsolated { $0.receive(text, session: session, connection: connection) } }
        }
    }

    /// Frames handed over from another connection loop; written frames are flushed once, at the end.
    func receive(_ batch: [InboundHandoff.Frame]) {
        inBatch = true
        for frame in batch { receive(frame.text, session: frame.session, connection: frame.connection) }
        inBatch = false
        flushWebSockets()
    }

    /// A text frame from a connection; ignored when the connection no longer owns the session.
    func receive(_ text: String, session: String, connection: UInt64) {
        guard outlets[session]?.connection == connection else { return }
        var actions: [SignalingCore.Action] = []
        core.receive(text, from: session, now: now(), into: &actions)
        perform(actions)
    }

    /// The connection is gone; `clean` ends the session, otherwise it stays resumable.
    func disconnected(session: String, connection: UInt64, clean: Bool) {
        guard let outlet = outlets[session], outlet.connection == connection else { return }
        outlets[session] = nil
        switch outlet {
        case .webSocket(_, _, let continuation):
            continuation.finish()
        case .poll(let mailbox):
            // The poll id dies with its connection: a resume gets a new one, and the old one must not reach the
            // session again (it travels in URLs, so others may have seen it).
            forget(mailbox, clean ? nil : .idleTimeout)
        }
        var actions: [SignalingCore.Action] = []
        core.disconnected(session, clean: clean, now: now(), into: &actions)
        perform(actions)
    }

    /// The transport ended a session for a protocol violation it detected itself (binary frame, bad framing).
    func terminate(session: String, connection: UInt64, reason: SignalingCloseReason) {
        guard outlets[session]?.connection == connection else { return }
        var actions: [SignalingCore.Action] = []
        core.terminate(session, reason: reason, into: &actions)
        perform(actions)
    }

    // MARK: Long polling

    func openPoll(identity: Identity?, resume: (token: String, last: UInt64)?, host: String) -> Result<(session: String, pollID: String), SignalingCloseReason> {
        let connection = newConnection()
        let pollID = RandomUser.make(bytes: 24)
        let result = startSession(identity: identity, resume: resume, host: host) { _ in
            .poll(PollMailbox(connection: connection, pollID: pollID, lastSeen: now()))
        }
        if case .success(let session) = result { sessionByPollID[pollID] = session }
        return result.map { ($0, pollID) }
    }

    /// Holds until frames are ready or `pollHold` seconds pass. A second poll replaces the first, which gets `[]`.
    func poll(_ pollID: String) async -> PollResult {
        guard let session = sessionByPollID[pollID], case .poll(var mailbox)? = outlets[session], mailbox.pollID == pollID else {
            if let reason = endedPolls.take(pollID) { return .gone(reason) }
            return shuttingDown ? .gone(.goingAway) : .unknown
        }
        mailbox.lastSeen = now()
        if !mailbox.pending.isEmpty {
            let frames = mailbox.pending
            mailbox.pending = []
            outlets[session] = .poll(mailbox)
            return .frames(frames)
        }
        if let previous = mailbox.waiter { previous.continuation.resume(returning: .frames([])) }
        let ticket = nextTicket
        nextTicket += 1
        return await withCheckedContinuation { continuation in
            mailbox.waiter = (ticket, continuation)
            outlets[session] = .poll(mailbox)
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(Self.pollHold))
                await self?.pollTimedOut(pollID, ticket: ticket)
            }
        }
    }

    private func pollTimedOut(_ pollID: String, ticket: UInt64) {
        guard let session = sessionByPollID[pollID], case .poll(var mailbox)? = outlets[session], mailbox.pollID == pollID,
              let waiter = mailbox.waiter, waiter.ticket == ticket else { return }
        mailbox.waiter = nil
        mailbox.lastSeen = now()
        outlets[session] = .poll(mailbox)
        waiter.continuation.resume(returning: .frames([]))
    }

    /// Client frames posted by a long-polling client.
    func pollSend(_ pollID: String, frames: [String]) -> PollResult {
        guard let session = sessionByPollID[pollID], case .poll(let mailbox)? = outlets[session], mailbox.pollID == pollID else {
            if let reason = endedPolls.reason(for: pollID) { return .gone(reason) }
            return shuttingDown ? .gone(.goingAway) : .unknown
        }
        for text in frames {
            guard outlets[session]?.connection == mailbox.connection else { break }
            receive(text, session: session, connection: mailbox.connection)
        }
        return .frames([])
    }

    /// `DELETE /v1/poll/{P}`: the client leaves for good.
    func pollClose(_ pollID: String) -> Bool {
        guard let session = sessionByPollID[pollID], case .poll(var mailbox)? = outlets[session], mailbox.pollID == pollID else {
            return false
        }
        mailbox.waiter?.continuation.resume(returning: .gone(.normal))
        mailbox.waiter = nil
        outlets[session] = .poll(mailbox)
        disconnected(session: session, connection: mailbox.connection, clean: true)
        return true
    }

    // MARK: Timers

    /// Ends sessions whose resume window is over and drops long-polling clients that stopped polling.
    func tick() {
        let now = now()
        // Only long-polling sessions can idle out: walking all 10,000 outlets held the loop for milliseconds.
        for session in sessionByPollID.values {
            guard case .poll(let mailbox)? = outlets[session], mailbox.waiter == nil, now - mailbox.lastSeen > limits.pollIdle else { continue }
            disconnected(session: session, connection: mailbox.connection, clean: false)
        }
        var actions: [SignalingCore.Action] = []
        core.expire(now: now, into: &actions)
        perform(actions)
    }

    /// Ends every session (server shutdown): WebSocket clients get close 1001, long polls 410 with 1001, now or
    /// at their next poll.
    func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        flushWebSockets()
        for (_, outlet) in outlets {
            switch outlet {
            case .webSocket(_, _, let continuation):
                continuation.yield(.close(.goingAway))
                continuation.finish()
            case .poll(let mailbox):
                endedPolls.remember(mailbox.pollID, .goingAway)
                mailbox.waiter?.continuation.resume(returning: .gone(.goingAway))
            }
        }
        outlets = [:]
        sessionByPollID = [:]
    }

    /// A long-polling session's id stops working; its next poll learns `reason` (410), or gets 404 without one.
    private func forget(_ mailbox: PollMailbox, _ reason: SignalingCloseReason?) {
        sessionByPollID[mailbox.pollID] = nil
        if let reason { endedPolls.remember(mailbox.pollID, reason) }
    }

    // MARK: Actions

    /// A resumed session may still have a connection the server has not noticed is dead: close it as replaced.
    private func detachPrevious(_ session: String) {
        guard let outlet = outlets.removeValue(forKey: session) else { return }
        switch outlet {
        case .webSocket(_, _, let continuation):
            continuation.yield(.close(.replaced))
            continuation.finish()
        case .poll(let mailbox):
            forget(mailbox, .replaced)
            mailbox.waiter?.continuation.resume(returning: .gone(.replaced))
        }
    }

    private func perform(_ actions: [SignalingCore.Action]) {
        defer { if !inBatch { flushWebSockets() } }
        for action in actions {
            switch action {
            case .send(let session, let text):
                switch outlets[session] {
                case .webSocket(_, let writer, _)?:
                    // A client that stops reading fills the channel past its high-water mark (1 MiB): end it
                    // loudly rather than buffer without bound or drop frames silently.
                    guard writer.isWritable else {
                        endTooSlow(session)
                        continue
                    }
                    write(text, to: writer)
                case .poll(var mailbox)?:
                    if let waiter = mailbox.waiter {
                        mailbox.waiter = nil
                        mailbox.lastSeen = now()
                        outlets[session] = .poll(mailbox)
                        waiter.continuation.resume(returning: .frames([text]))
                    } else if mailbox.pending.count >= limits.replayFrames {
                        endTooSlow(session)
                    } else {
                        mailbox.pending.append(text)
                        outlets[session] = .poll(mailbox)
                    }
                case nil:
                    break
                }
            case .close(let session, let reason):
                switch outlets.removeValue(forKey: session) {
                case .webSocket(_, _, let continuation)?:
                    // Everything written so far goes out before the connection's task writes the close frame: the
                    // hand-offs are queued on the connections' loops ahead of that task's wake-up.
                    flushWebSockets()
                    continuation.yield(.close(reason))
                    continuation.finish()
                case .poll(let mailbox)?:
                    sessionByPollID[mailbox.pollID] = nil
                    if let waiter = mailbox.waiter {
                        waiter.continuation.resume(returning: .gone(reason))
                    } else {
                        endedPolls.remember(mailbox.pollID, reason)
                    }
                case nil:
                    break
                }
            }
        }
    }
}

extension SignalingHub {
    fileprivate func endTooSlow(_ session: String) {
        logger.notice("signaling client too slow; closing", metadata: ["session": "\(session)"])
        var actions: [SignalingCore.Action] = []
        core.terminate(session, reason: .tooSlow, into: &actions)
        perform(actions)
    }

    fileprivate func write(_ text: String, to writer: WebSocketFrameWriter) {
        if writer.channel.eventLoop === loop {
            unflushed.write(text, to: writer)
        } else if let handoff = outboundHandoffs[ObjectIdentifier(writer.channel.eventLoop)] {
            if handoff.isEmpty { pendingHandoffs.append(handoff) }
            handoff.add(text, for: writer)
        } else {
            // A loop the hub was not told about (not expected): one task per frame, still in order.
            writer.channel.eventLoop.execute {
                writer.writeText(text)
                writer.flush()
            }
        }
    }

    /// Re-entrant: flushing a channel can read from it on this loop, and the frames read write and flush again
    /// (an exclusivity violation when the hub still held its list), so each list is taken out before its flushes
    /// and whatever they add is flushed in the next round.
    fileprivate func flushWebSockets() {
        while !unflushed.isEmpty {
            var batch = unflushed.take()
            batch.flush()
        }
        while !pendingHandoffs.isEmpty {
            let handoffs = pendingHandoffs
            pendingHandoffs = []
            for handoff in handoffs { handoff.flush() }
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Random ids for open-mode users and poll ids.
enum RandomUser {
    static func make(bytes: Int = 9) -> String {
        var generator = SystemRandomNumberGenerator()
        let raw = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(raw).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}
