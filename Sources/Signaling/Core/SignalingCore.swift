/// The sans-I/O signaling core: sessions, rooms, addressing, presence, resume and limits.
///
/// Transports (WebSocket, long polling) feed it connections, text frames, disconnects and the time, and carry out
/// the actions it appends. One instance is owned by one actor or event loop; it is never shared.
public final class SignalingCore {
    /// What the transport must do.
    public enum Action: Sendable, Equatable {
        /// Send a text frame on the session's current connection.
        case send(session: String, text: String)
        /// Close the session's current connection; the session is gone.
        case close(session: String, SignalingCloseReason)
        /// Something happened that operators hear about (webhooks, metrics, logs); nothing to send.
        case event(SignalingEvent)
    }

    public let limits: SignalingLimits
    /// The `iceServers` value handed out on join, for a user of a session who reached us by a host name (the
    /// credentials name the session, so they die with it).
    let iceServers: @Sendable (_ user: String, _ host: String, _ session: String) -> JSONValue

    var sessions: [String: Session] = [:]
    /// Sessions waiting in their resume window, so `expire` looks at these rather than copying every session.
    private var detached: Set<String> = []
    var sessionByResumeToken: [String: String] = [:]
    var rooms: [String: Room] = [:]
    /// Sessions to end once the current entry point finishes (a replay buffer overflowed during a fan-out).
    private var overflowed: [String] = []
    /// Set while `finish` ends overflowed sessions.
    private var finishing = false
    /// Why recently ended resumable sessions ended, so a late resume learns the reason.
    private var endedResumeTokens = RecentlyEnded()

    /// Session ids, resume tokens and the user ids of anonymous (open-mode) sessions.
    private var random: any RandomNumberGenerator
    /// The bytes of the frame being written, kept between frames so that writing one allocates only its text.
    private var scratch: [UInt8] = []
    /// Frames in and out by type, for metrics.
    public private(set) var frameCounts = FrameCounts()

    /// `random` must be cryptographic in a server (the default): session ids and resume tokens are capabilities.
    public init(limits: SignalingLimits = SignalingLimits(),
                iceServers: @escaping @Sendable (_ user: String, _ host: String, _ session: String) -> JSONValue = { _, _, _ in .array([]) },
                random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.limits = limits
        self.iceServers = iceServers
        self.random = random
    }

    /// A fresh id from the core's generator.
    public func makeID() -> String { RandomID.make(using: &random) }

    public var sessionCount: Int { sessions.count }
    public var roomCount: Int { rooms.count }

    /// Every room with its members in join order (admin API).
    public func roomReports() -> [RoomReport] {
        rooms.map { name, room in
            RoomReport(room: name, peers: room.members.map { RoomReport.Peer(session: $0.session, user: $0.user, meta: $0.meta) })
        }.sorted { $0.room < $1.room }
    }

    /// Sessions of `user`, connected or waiting in their resume window.
    public func sessions(of user: String) -> [String] {
        sessions.values.filter { $0.identity.user == user }.map(\.id)
    }

    /// Peer ids in a room, in join order (for tests and metrics).
    public func members(of room: String) -> [String] {
        rooms[room]?.members.map(\.session) ?? []
    }

    public func hasSession(_ session: String) -> Bool { sessions[session] != nil }

    public func isResumable(_ session: String) -> Bool {
        if case .detached? = sessions[session]?.link { return true }
        return false
    }

    // MARK: Connections

    /// A new connection with a verified identity (nil on an open server: the session gets a user id of its own):
    /// returns the session id and sends `welcome`.
    public func connect(identity: Identity?, host: String, now: Double,
                        into actions: inout [Action]) -> Result<String, SignalingCloseReason> {
        guard sessions.count < limits.maxSessions else { return .failure(.serverFull) }
        var id = makeID()
        while sessions[id] != nil { id = makeID() }
        let identity = identity ?? Identity(user: String(makeID().prefix(16)))
        let session = Session(id: id, resumeToken: makeID(), identity: identity, host: host,
                              replay: ReplayBuffer(capacity: limits.replayFrames, byteCapacity: limits.replayBytes),
                              limiter: FrameRateLimiter(rate: limits.framesPerSecond, burst: limits.frameBurst, now: now))
        sessions[id] = session
        sessionByResumeToken[session.resumeToken] = id
        actions.append(.event(.sessionStarted(session: id, user: identity.user)))
        sendWelcome(session, resumed: false, into: &actions)
        return .success(id)
    }

    /// A reconnection with `resume=token&last=seq`: re-attaches the session, sends `welcome` and every frame after
    /// `last`. The transport closes any connection still attached to the session (`replaced`).
    public func resume(token: String, last: UInt64, identity: Identity?, host: String, now: Double,
                       into actions: inout [Action]) -> Result<String, SignalingCloseReason> {
        guard let id = sessionByResumeToken[token], let session = sessions[id] else {
            return .failure(endedResumeTokens.reason(for: token) ?? .resumeFailed)
        }
        if let identity, identity.user != session.identity.user { return .failure(.resumeFailed) }
        guard last < session.nextSeq else { return .failure(.resumeFailed) }
        if last + 1 < session.nextSeq, let oldest = session.replay.oldestSeq, oldest > last + 1 {
            remember(token, .replayGap)
            end(id, close: nil, peerLeftReason: "timeout", into: &actions)
            return .failure(.replayGap)
        }
        session.link = .connected
        detached.remove(id)
        session.host = host
        if let identity { session.identity = identity }
        actions.append(.event(.sessionResumed(session: id, user: session.identity.user)))
        sendWelcome(session, resumed: true, into: &actions)
        for text in session.replay.frames(after: last) {
            actions.append(.send(session: id, text: text))
        }
        return .success(id)
    }

    /// The session's connection is gone. A clean close (1000/1001, or long-poll DELETE) ends the session; anything
    /// else leaves it resumable for the resume window.
    public func disconnected(_ id: String, clean: Bool, now: Double, into actions: inout [Action]) {
        guard let session = sessions[id], session.isConnected else { return }
        if clean {
            end(id, close: nil, peerLeftReason: "disconnected", into: &actions)
        } else {
            session.link = .detached(deadline: now + limits.resumeWindow, queued: 0, queuedBytes: 0)
            detached.insert(id)
        }
    }

    /// Ends sessions whose resume window is over.
    public func expire(now: Double, into actions: inout [Action]) {
        let expired = detached.filter { id in
            if case .detached(let deadline, _, _)? = sessions[id]?.link { return deadline <= now }
            return false
        }
        for id in expired { end(id, close: nil, peerLeftReason: "timeout", into: &actions) }
    }

    /// The server ends a session (shutdown, a transport-level violation).
    public func terminate(_ id: String, reason: SignalingCloseReason, into actions: inout [Action]) {
        end(id, close: reason, peerLeftReason: "kicked", into: &actions)
    }

    // MARK: Frames

    /// A text frame from a session's connection.
    public func receive(_ text: String, from id: String, now: Double, into actions: inout [Action]) {
        guard let session = sessions[id], session.isConnected else { return }
        guard text.utf8.count <= limits.maxFrameBytes else {
            return end(id, close: .frameTooLarge, peerLeftReason: "kicked", into: &actions)
        }
        switch session.limiter.take(now: now) {
        case .allowed:
            break
        case .refused:
            let parsed = ReceivedFrame.parse(text, limits: limits)
            deliver(.error(SignalingError(code: .rateLimited, message: "more than \(Int(limits.framesPerSecond)) frames per second"),
                           ref: parsed.id), to: id, into: &actions)
            return finish(into: &actions)
        case .flood:
            return end(id, close: .flood, peerLeftReason: "kicked", into: &actions)
        }
        let received = ReceivedFrame.parse(text, limits: limits)
        frameCounts.received(received.frame)
        switch received.frame {
        case .failure(let error):
            deliver(.error(error, ref: received.id), to: id, into: &actions)
        case .success(let frame):
            do {
                try handle(frame, id: received.id, from: session, into: &actions)
                if let ref = received.id, sessions[id] != nil { deliver(.ack(id: ref), to: id, into: &actions) }
            } catch {
                deliver(.error(error, ref: received.id), to: id, into: &actions)
            }
        }
        finish(into: &actions)
    }

    private func handle(_ frame: ClientFrame, id frameID: JSONValue?, from session: Session,
                        into actions: inout [Action]) throws(SignalingError) {
        let id = session.id
        switch frame {
        case .auth:
            throw SignalingError.badRequest("already authenticated")
        case .ping(let time):
            deliver(.pong(id: frameID, time: time), to: id, into: &actions)
        case .join(let name, let meta):
            try join(name, meta: meta, session: session, into: &actions)
        case .leave(let name):
            guard session.rooms.contains(name) else { throw notInRoom(name) }
            removeMember(id, from: name, reason: "left", into: &actions)
            session.rooms.removeAll { $0 == name }
            deliver(.left(room: name), to: id, into: &actions)
        case .signal(let name, let target, let data):
            guard session.rooms.contains(name), let room = rooms[name] else { throw notInRoom(name) }
            let recipients: [String]
            switch target {
            case .peer(let peer):
                recipients = room.contains(peer) ? [peer] : []
            case .user(let user):
                recipients = room.members.filter { $0.user == user && $0.session != id }.map(\.session)
            }
            guard !recipients.isEmpty else {
                throw SignalingError(code: .unknownPeer, message: "no such peer in room '\(name)'")
            }
            let raw = data
            for recipient in recipients {
                deliver(.signal(room: name, from: id, fromUser: session.identity.user, data: raw), to: recipient, into: &actions)
            }
        case .broadcast(let name, let data, let includeSelf):
            guard session.rooms.contains(name), let room = rooms[name] else { throw notInRoom(name) }
            let raw = data
            for member in room.members where includeSelf || member.session != id {
                deliver(.broadcast(room: name, from: id, fromUser: session.identity.user, data: raw), to: member.session,
                        into: &actions)
            }
        }
    }

    private func join(_ name: String, meta: JSONValue?, session: Session, into actions: inout [Action]) throws(SignalingError) {
        guard !session.rooms.contains(name) else { throw SignalingError.badRequest("already in room '\(name)'") }
        guard session.identity.mayJoin(name) else {
            throw SignalingError(code: .forbidden, message: "the token does not allow room '\(name)'")
        }
        guard session.rooms.count < limits.maxRoomsPerSession else {
            throw SignalingError(code: .tooManyRooms, message: "at most \(limits.maxRoomsPerSession) rooms per session")
        }
        var room = rooms[name] ?? Room()
        guard room.members.count < limits.maxPeersPerRoom else {
            throw SignalingError(code: .roomFull, message: "room '\(name)' has \(limits.maxPeersPerRoom) peers")
        }
        let others = room.members.map { PeerInfo(id: $0.session, user: $0.user, meta: $0.meta) }
        let me = PeerInfo(id: session.id, user: session.identity.user, meta: meta)
        if room.members.isEmpty { actions.append(.event(.roomStarted(room: name))) }
        room.members.append(Room.Member(session: session.id, user: session.identity.user, meta: meta))
        rooms[name] = room
        actions.append(.event(.peerJoined(room: name, session: session.id, user: session.identity.user)))
        session.rooms.append(name)
        deliver(.joined(room: name, selfID: session.id, peers: others,
                        iceServers: iceServers(session.identity.user, session.host, session.id)), to: session.id, into: &actions)
        for other in others {
            deliver(.peerJoined(room: name, peer: me), to: other.id, into: &actions)
        }
    }

    private func notInRoom(_ name: String) -> SignalingError {
        SignalingError(code: .notInRoom, message: "not in room '\(name)'")
    }

    // MARK: Delivery

    private func sendWelcome(_ session: Session, resumed: Bool, into actions: inout [Action]) {
        frameCounts.producedWelcome()
        let welcome = ServerFrame.welcome(session: session.id, resume: session.resumeToken, heartbeat: limits.heartbeat,
                                          user: session.identity.user, resumed: resumed)
        actions.append(.send(session: session.id, text: welcome.encode(seq: 0, scratch: &scratch)))
    }

    /// Numbers a frame, keeps it for replay, and sends it if the session is connected.
    private func deliver(_ frame: ServerFrame, to id: String, into actions: inout [Action]) {
        frameCounts.produced(frame)
        guard let recorded = sessions[id]?.record(frame, replayLimit: limits.replayFrames, scratch: &scratch) else { return }
        if recorded.sendNow {
            actions.append(.send(session: id, text: recorded.text))
        } else if recorded.overflowed, !overflowed.contains(id) {
            overflowed.append(id)
        }
    }

    private func finish(into actions: inout [Action]) {
        // Ending a session may overflow others (its peer-left), whose ends call back here: the outermost call's loop
        // takes them, so a chain of such sessions is walked, not recursed through (no depth bound but the stack's).
        guard !finishing else { return }
        finishing = true
        defer { finishing = false }
        while let id = overflowed.popLast() {
            if let token = sessions[id]?.resumeToken { remember(token, .replayOverflow) }
            end(id, close: nil, peerLeftReason: "kicked", into: &actions)
        }
    }

    /// Removes a session from everything; tells its rooms why. `close` is sent only when a connection is attached.
    private func end(_ id: String, close: SignalingCloseReason?, peerLeftReason: String, into actions: inout [Action]) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        detached.remove(id)
        sessionByResumeToken[session.resumeToken] = nil
        if let close, session.isConnected { actions.append(.close(session: id, close)) }
        for name in session.rooms {
            removeMember(id, from: name, reason: peerLeftReason, into: &actions)
        }
        actions.append(.event(.sessionEnded(session: id, user: session.identity.user, reason: peerLeftReason,
                                             closeCode: close?.code)))
        finish(into: &actions)
    }

    private func remember(_ token: String, _ reason: SignalingCloseReason) {
        endedResumeTokens.remember(token, reason)
    }

    private func removeMember(_ id: String, from name: String, reason: String, into actions: inout [Action]) {
        guard var room = rooms[name], let index = room.members.firstIndex(where: { $0.session == id }) else { return }
        let member = room.members.remove(at: index)
        actions.append(.event(.peerLeft(room: name, session: id, user: member.user, reason: reason)))
        if room.members.isEmpty {
            rooms[name] = nil
            actions.append(.event(.roomFinished(room: name)))
            return
        }
        rooms[name] = room
        for member in room.members {
            deliver(.peerLeft(room: name, peer: id, reason: reason), to: member.session, into: &actions)
        }
    }
}
