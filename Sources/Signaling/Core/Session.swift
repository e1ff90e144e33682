/// One signaling session: its identity, rooms, outgoing sequence and replay buffer, and whether a transport is
/// attached right now.
///
/// A class, owned by the core's table: every frame reads a session or two, and reading a struct out of a dictionary
/// copies it, retaining each of its strings and buffers on the way.
final class Session {
    enum Link: Equatable {
        case connected
        /// Dropped without a clean close: resumable until `deadline`; `queued` frames of `queuedBytes` produced since.
        case detached(deadline: Double, queued: Int, queuedBytes: Int)
    }

    let id: String
    let resumeToken: String
    var identity: Identity
    /// Host name the client reached us by, for the STUN/TURN URLs handed out on join.
    var host: String
    var rooms: [String] = []
    var nextSeq: UInt64 = 1
    var replay: ReplayBuffer
    var link: Link = .connected
    var limiter: FrameRateLimiter

    init(id: String, resumeToken: String, identity: Identity, host: String, replay: ReplayBuffer, limiter: FrameRateLimiter) {
        self.id = id
        self.resumeToken = resumeToken
        self.identity = identity
        self.host = host
        self.replay = replay
        self.limiter = limiter
    }

    var isConnected: Bool { link == .connected }

    /// Numbers a frame and keeps it for replay. `sendNow` when a transport is attached; otherwise it is queued and
    /// `overflowed` says the replay buffer can no longer hold what the client missed.
    func record(_ frame: ServerFrame, replayLimit: Int, scratch: inout [UInt8]) -> (text: String, sendNow: Bool, overflowed: Bool) {
        let seq = nextSeq
        nextSeq += 1
        let text = frame.encode(seq: seq, scratch: &scratch)
        replay.append(seq: seq, text: text)
        switch link {
        case .connected:
            return (text, true, false)
        case .detached(let deadline, let queued, let queuedBytes):
            let bytes = queuedBytes + text.utf8.count
            link = .detached(deadline: deadline, queued: queued + 1, queuedBytes: bytes)
            // What the client missed must all stay in the replay buffer, or a resume could not replay it.
            return (text, false, queued + 1 > replayLimit || (queued > 0 && bytes > replay.byteCapacity))
        }
    }
}

/// A room: its members in join order, with their metadata.
struct Room {
    struct Member {
        var session: String
        var user: String
        var meta: JSONValue?
    }

    var members: [Member] = []

    func contains(_ session: String) -> Bool { members.contains { $0.session == session } }
}
