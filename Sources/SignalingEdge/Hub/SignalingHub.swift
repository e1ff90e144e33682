import EdgeSupport
import Logging
import NIOCore
import Signaling

/// Owns the signaling core and the transports' outlets; every connection, frame and timer goes through it.
///
/// The core is a plain state machine; this actor is the only thing that touches it, and it turns the core's actions
/// into deliveries to WebSocket connections (through one `LoopOutbox` per event loop) or long-polling mailboxes.
/// It runs on one event loop of the signaling group, so connections on that loop reach it without a hop.
actor SignalingHub {
    private let core: SignalingCore
    private let logger: Logger
    private var outlets: [String: Outlet] = [:]
    private var sessionByPollID: [String: String] = [:]
    /// Why a long-polling session ended, so its next poll gets 410 with the reason (bounded).
    private var endedPolls = RecentlyEnded()
    /// Poll requests held open, by ticket; answered only through `answer`.
    private var pollRequests: [UInt64: CheckedContinuation<PollResult, Never>] = [:]
    private var nextTicket: UInt64 = 1
    private var nextConnection: UInt64 = 1
    /// Poll ids; the core makes session ids and resume tokens from its own generator.
    private var random: any RandomNumberGenerator
    /// What the current batch of actions decided for WebSocket connections, per event loop, and which of those
    /// boxes have something in them.
    private var outboxes: [ObjectIdentifier: LoopOutbox]
    private var filledOutboxes: [LoopOutbox] = []
    /// While a batch of events from another loop is handled, flushing waits until its end.
    private var inBatch = false
    /// Actions waiting for `perform`'s loop, and whether it runs (see `perform`).
    private var waitingActions: [[SignalingCore.Action]] = []
    private var performingActions = false
    /// Sessions `endTooSlow` ended while `perform` runs: their close waits behind the batch, their frames go nowhere.
    private var endedTooSlow: Set<String> = []
    /// Long-polling sessions per client address: they hold no connection, so the HTTP listener's per-address bound
    /// does not reach them, and without this one client could open every session the server allows.
    private let pollSources: ConnectionLimiter
    private var pollTickets: [String: ConnectionLimiter.Ticket] = [:]
    /// Set by `shutdown`: nothing new attaches while the server winds down.
    private var shuttingDown = false
    /// Set by the operator: no new sessions; existing ones (and their resumes) are served until they end.
    /// The server's drain switch, shared with the HTTP side, which refuses new WebSocket upgrades with it.
    nonisolated let drainGate: DrainGate
    let limits: SignalingLimits
    /// Where lifecycle events go (the app's event stream); called on the hub's loop, must not block.
    private let events: @Sendable (SignalingEvent) -> Void
    static let pollHold: TimeAmount = .seconds(25)

    /// The hub runs on this event loop; connections live on it and on the other `connectionLoops`.
    nonisolated let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    /// How events on each other connection loop reach the hub.
    private nonisolated let inboundHandoffs: [ObjectIdentifier: InboundHandoff]

    init(limits: SignalingLimits, iceServers: @escaping @Sendable (String, String, String) -> JSONValue, loop: any EventLoop,
         connectionLoops: [any EventLoop] = [], random: any RandomNumberGenerator = SystemRandomNumberGenerator(),
         events: @escaping @Sendable (SignalingEvent) -> Void = { _ in }, drainGate: DrainGate = DrainGate(),
         maxPollSessionsPerAddress: Int = .max, logger: Logger) {
        self.pollSources = ConnectionLimiter(maxTotal: .max, maxPerAddress: maxPollSessionsPerAddress)
        self.loop = loop
        self.drainGate = drainGate
        self.events = events
        self.core = SignalingCore(limits: limits, iceServers: iceServers, random: random)
        self.random = random
        self.limits = limits
        self.logger = logger
        let others = connectionLoops.filter { $0 !== loop }
        outboxes = Dictionary(uniqueKeysWithValues: ([loop] + others).map { (ObjectIdentifier($0), LoopOutbox(loop: $0, hubLoop: loop)) })
        let inbound = others.map { InboundHandoff(loop: $0) }
        inboundHandoffs = Dictionary(uniqueKeysWithValues: inbound.map { (ObjectIdentifier($0.loop), $0) })
        for handoff in inbound { handoff.hub = self }
    }

    var sessionCount: Int { core.sessionCount }

    // MARK: Operator

    func roomReports() -> [RoomReport] { core.roomReports() }
    func hasSession(_ session: String) -> Bool { core.hasSession(session) }
    var frameCounts: FrameCounts { core.frameCounts }

    /// Ends one session with close 4011; false when there is no such session.
    func kick(_ session: String) -> Bool {
        guard core.hasSession(session) else { return false }
        end(session, .kicked)
        return true
    }

    /// Ends every session of `user` with close 4012; returns how many.
    func revoke(user: String) -> Int {
        let sessions = core.sessions(of: user)
        for session in sessions { end(session, .revoked) }
        return sessions.count
    }

    private func end(_ session: String, _ reason: SignalingCloseReason) {
        var actions: [SignalingCore.Action] = []
        core.terminate(session, reason: reason, into: &actions)
        perform(actions)
    }

    func drain() { drainGate.close() }
    var isDraining: Bool { drainGate.isDraining }
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

    /// Starts or resumes a session for a WebSocket connection; `reply` runs on the connection's loop.
    nonisolated func attach(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                            connection: WebSocketConnection,
                            reply: @escaping @Sendable (Result<(session: String, connection: UInt64), SignalingCloseReason>) -> Void) {
        let resume = resume.map { SendableResume(token: $0.token, last: $0.last) }
        onLoop { hub in
            let result = hub.attachWebSocket(identity: identity, resume: resume.map { ($0.token, $0.last) }, host: host,
                                             connection: connection)
            if connection.loop.inEventLoop {
                reply(result)
            } else {
                connection.loop.execute { reply(result) }
            }
        }
    }

    private struct SendableResume: Sendable {
        var token: String
        var last: UInt64
    }

    func attachWebSocket(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                         connection: WebSocketConnection) -> Result<(session: String, connection: UInt64), SignalingCloseReason> {
        let id = newConnection()
        return startSession(identity: identity, resume: resume, host: host, outlet: .webSocket(connection: id, connection))
            .map { ($0, id) }
    }

    /// A connection's frame, end or violation, called on the connection's event loop: handled at once on the
    /// hub's loop, batched through the loop's hand-off from the others.
    nonisolated func connectionEvent(_ event: ConnectionEvent, from connectionLoop: any EventLoop) {
        if loop.inEventLoop {
            assumeIsolated { $0.handle(event) }
        } else if let handoff = inboundHandoffs[ObjectIdentifier(connectionLoop)] {
            handoff.add(event)
        } else {
            // A loop the hub was not told about: still in order, one task per event.
            loop.execute { self.assumeIsolated { $0.handle(event) } }
        }
    }

    /// Runs `body` on the hub's loop: at once when already there.
    private nonisolated func onLoop(_ body: @escaping @Sendable (isolated SignalingHub) -> Void) {
        if loop.inEventLoop {
            assumeIsolated(body)
        } else {
            loop.execute { self.assumeIsolated(body) }
        }
    }

    /// Events handed over from another connection loop; frames written are flushed once, at the end.
    func receive(_ batch: [ConnectionEvent]) {
        inBatch = true
        for event in batch { handle(event) }
        inBatch = false
        flushOutboxes()
    }

    private func handle(_ event: ConnectionEvent) {
        switch event {
        case .text(let text, let session, let connection):
            receive(text, session: session, connection: connection)
        case .ended(let session, let connection, let clean):
            disconnected(session: session, connection: connection, clean: clean)
        case .violated(let session, let connection, let reason):
            terminate(session: session, connection: connection, reason: reason)
        }
    }

    /// Connects or resumes in the core; the outlet is installed before the core's first frames are delivered.
    private func startSession(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                              outlet: Outlet) -> Result<String, SignalingCloseReason> {
        guard !shuttingDown else { return .failure(.goingAway) }
        if drainGate.isDraining, resume == nil { return .failure(.draining) }
        var actions: [SignalingCore.Action] = []
        let result: Result<String, SignalingCloseReason>
        if let resume {
            result = core.resume(token: resume.token, last: resume.last, identity: identity, host: host, now: now(), into: &actions)
            if case .success(let session) = result { detachPrevious(session) }
        } else {
            result = core.connect(identity: identity, host: host, now: now(), into: &actions)
        }
        if case .success(let session) = result { outlets[session] = outlet }
        perform(actions)
        return result
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
        if case .poll(let mailbox) = outlet {
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

    func openPoll(identity: Identity?, resume: (token: String, last: UInt64)?, host: String,
                  from client: SocketAddress? = nil) -> Result<(session: String, pollID: String), SignalingCloseReason> {
        // Refusals that are not about the address come first, so the client learns the real reason.
        guard !shuttingDown else { return .failure(.goingAway) }
        if drainGate.isDraining, resume == nil { return .failure(.draining) }
        let pollID = RandomID.make(using: &random)
        switch pollSources.admit(client) {
        case .success(let ticket):
            pollTickets[pollID] = ticket
        case .failure:
            // A resume takes over a place its session's previous poll id frees: it is not refused (and not counted).
            guard resume != nil else { return .failure(.tooManyFromAddress) }
        }
        let mailbox = PollMailbox(connection: newConnection(), pollID: pollID, capacity: limits.replayFrames,
                                  byteCapacity: limits.replayBytes, now: now())
        let result = startSession(identity: identity, resume: resume, host: host, outlet: .poll(mailbox))
        // A resume's replay can overflow the new mailbox, ending the session inside `startSession`: its id is then
        // one that leads nowhere, and its place is free again.
        if case .success(let session) = result, case .poll(let installed)? = outlets[session], installed.pollID == pollID {
            sessionByPollID[pollID] = session
        } else {
            release(pollID)
        }
        return result.map { ($0, pollID) }
    }

    /// The mailbox behind a live poll id.
    private func mailbox(_ pollID: String) -> (session: String, mailbox: PollMailbox)? {
        guard let session = sessionByPollID[pollID], case .poll(let mailbox)? = outlets[session], mailbox.pollID == pollID else {
            return nil
        }
        return (session, mailbox)
    }

    /// Why a poll id leads nowhere: 410 with the reason its session ended, or 404.
    private func missing(_ pollID: String, consume: Bool) -> PollResult {
        if let reason = consume ? endedPolls.take(pollID) : endedPolls.reason(for: pollID) { return .gone(reason) }
        return shuttingDown ? .gone(.goingAway) : .unknown
    }

    /// Holds until frames are ready or `pollHold` passes. A second poll replaces the first, which gets `[]`.
    func poll(_ pollID: String) async -> PollResult {
        guard case (let session, var mailbox)? = mailbox(pollID) else { return missing(pollID, consume: true) }
        let ticket = nextTicket
        nextTicket += 1
        return await withCheckedContinuation { continuation in
            pollRequests[ticket] = continuation
            let answers = mailbox.poll(ticket: ticket, now: now())
            outlets[session] = .poll(mailbox)
            answer(answers)
            guard pollRequests[ticket] != nil else { return }
            loop.scheduleTask(in: Self.pollHold) { [weak self] in
                self?.assumeIsolated { $0.pollHoldExpired(pollID, ticket: ticket) }
            }
        }
    }

    private func pollHoldExpired(_ pollID: String, ticket: UInt64) {
        guard case (let session, var mailbox)? = mailbox(pollID), let answer = mailbox.holdExpired(ticket: ticket, now: now()) else {
            return
        }
        outlets[session] = .poll(mailbox)
        self.answer([answer])
    }

    /// The one place a held poll request is answered.
    private func answer(_ answers: [PollAnswer]) {
        for answer in answers { pollRequests.removeValue(forKey: answer.ticket)?.resume(returning: answer.result) }
    }

    /// Client frames posted by a long-polling client.
    func pollSend(_ pollID: String, frames: [String]) -> PollResult {
        guard let (session, mailbox) = mailbox(pollID) else { return missing(pollID, consume: false) }
        for text in frames {
            guard outlets[session]?.connection == mailbox.connection else { break }
            receive(text, session: session, connection: mailbox.connection)
        }
        return .frames([])
    }

    /// `DELETE /v1/poll/{P}`: the client leaves for good.
    func pollClose(_ pollID: String) -> Bool {
        guard case (let session, var mailbox)? = mailbox(pollID) else { return false }
        answer(mailbox.end(.gone(.normal)).map { [$0] } ?? [])
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
            guard case .poll(let mailbox)? = outlets[session], mailbox.isIdle(now: now, limit: limits.pollIdle) else { continue }
            disconnected(session: session, connection: mailbox.connection, clean: false)
        }
        var actions: [SignalingCore.Action] = []
        core.expire(now: now, into: &actions)
        perform(actions)
    }

    /// Ends every session (server shutdown): WebSocket clients get close 1001, long polls 410 with 1001, now or
    /// at their next poll.
    /// The last frame of every WebSocket session when the server stops: outside the sequence (`seq` 0, like
    /// `welcome`), never replayed.
    static let bye = #"{"type":"bye","seq":0,"reason":"server shutting down","code":1001}"#

    func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        for (_, outlet) in outlets {
            switch outlet {
            case .webSocket(_, let connection):
                // Said in words first, so a client that does not look at close codes knows to reconnect later.
                outbox(for: connection).add(.text(Self.bye), for: connection)
                outbox(for: connection).add(.close(.goingAway), for: connection)
            case .poll(var mailbox):
                endedPolls.remember(mailbox.pollID, .goingAway)
                answer(mailbox.end(.gone(.goingAway)).map { [$0] } ?? [])
            }
        }
        outlets = [:]
        for pollID in sessionByPollID.keys { release(pollID) }
        flushOutboxes()
    }

    /// A long-polling session's id stops working; its next poll learns `reason` (410), or gets 404 without one.
    private func forget(_ mailbox: PollMailbox, _ reason: SignalingCloseReason?) {
        release(mailbox.pollID)
        if let reason { endedPolls.remember(mailbox.pollID, reason) }
    }

    /// The poll id leads nowhere from now on, and its client address may open another session.
    private func release(_ pollID: String) {
        sessionByPollID[pollID] = nil
        if let ticket = pollTickets.removeValue(forKey: pollID) { pollSources.release(ticket) }
    }

    // MARK: Actions

    /// A resumed session may still have a connection the server has not noticed is dead: close it as replaced.
    private func detachPrevious(_ session: String) {
        guard let outlet = outlets.removeValue(forKey: session) else { return }
        switch outlet {
        case .webSocket(_, let connection):
            outbox(for: connection).add(.close(.replaced), for: connection)
        case .poll(var mailbox):
            forget(mailbox, .replaced)
            answer(mailbox.end(.gone(.replaced)).map { [$0] } ?? [])
        }
    }

    private func perform(_ actions: [SignalingCore.Action]) {
        // Ending a client that is too slow makes actions of its own (peer-left for its rooms), and those may find
        // another client too slow: they wait here for the outermost call's loop rather than recurse, so a chain of
        // slow clients is walked, not a stack frame each. They run after the rest of the batch, which the core
        // numbered before them, so each client still gets its frames in sequence order.
        waitingActions.append(actions)
        guard !performingActions else { return }
        performingActions = true
        defer {
            performingActions = false
            endedTooSlow.removeAll()
            if !inBatch { flushOutboxes() }
        }
        var next = 0
        while next < waitingActions.count {
            let batch = waitingActions[next]
            next += 1
            carryOut(batch)
        }
        waitingActions.removeAll(keepingCapacity: true)
    }

    private func carryOut(_ actions: [SignalingCore.Action]) {
        for action in actions {
            switch action {
            case .send(let session, let text):
                if !endedTooSlow.isEmpty, endedTooSlow.contains(session) { continue }
                switch outlets[session] {
                case .webSocket(_, let connection)?:
                    // A client that stops reading fills the channel past its high-water mark (1 MiB): end it
                    // loudly rather than buffer without bound or drop frames silently.
                    guard connection.isWritable else {
                        endTooSlow(session)
                        continue
                    }
                    outbox(for: connection).add(.text(text), for: connection)
                case .poll(var mailbox)?:
                    switch mailbox.push(text, now: now()) {
                    case .answer(let answer):
                        outlets[session] = .poll(mailbox)
                        self.answer([answer])
                    case .queued:
                        outlets[session] = .poll(mailbox)
                    case .overflow:
                        endTooSlow(session)
                    }
                case nil:
                    break
                }
            case .close(let session, let reason):
                switch outlets.removeValue(forKey: session) {
                case .webSocket(_, let connection)?:
                    // Behind the frames already in the box: the client reads them before the close.
                    outbox(for: connection).add(.close(reason), for: connection)
                case .poll(var mailbox)?:
                    release(mailbox.pollID)
                    if let answer = mailbox.end(.gone(reason)) {
                        self.answer([answer])
                    } else {
                        endedPolls.remember(mailbox.pollID, reason)
                    }
                case nil:
                    break
                }
            case .event(let event):
                // A session the core ended without a close still has a connection here only when a resume failed
                // (a replay gap) while the old connection lived on unnoticed: it goes as on a successful resume.
                if case .sessionEnded(let session, _, _, _) = event, outlets[session] != nil { detachPrevious(session) }
                events(event)
            }
        }
    }

    private func endTooSlow(_ session: String) {
        // Frames for it later in the same batch are dropped (its close waits behind them, see `perform`).
        guard core.hasSession(session) else { return }
        endedTooSlow.insert(session)
        logger.notice("signaling client too slow; closing", metadata: ["session": "\(session)"])
        var actions: [SignalingCore.Action] = []
        core.terminate(session, reason: .tooSlow, into: &actions)
        perform(actions)
    }

    /// The box for the connection's loop, noted as filled on its first entry of the batch.
    private func outbox(for connection: WebSocketConnection) -> LoopOutbox {
        let key = ObjectIdentifier(connection.loop)
        let box: LoopOutbox
        if let known = outboxes[key] {
            box = known
        } else {
            box = LoopOutbox(loop: connection.loop, hubLoop: loop)
            outboxes[key] = box
        }
        if box.isEmpty { filledOutboxes.append(box) }
        return box
    }

    /// Re-entrant: delivering on the hub's loop can run a read, whose frames fill boxes again; each round takes
    /// the list out first, and whatever it adds goes in the next round.
    private func flushOutboxes() {
        while !filledOutboxes.isEmpty {
            let boxes = filledOutboxes
            filledOutboxes = []
            for box in boxes { box.flush() }
        }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
