/// A lifecycle event of the signaling core, emitted as an action (`SignalingCore.Action.event`) at the moment it
/// happens. Webhooks, metrics, logs and the admin API consume these rather than re-deriving state of their own.
public enum SignalingEvent: Sendable, Equatable {
    case sessionStarted(session: String, user: String)
    case sessionResumed(session: String, user: String)
    /// `reason`: `disconnected` (clean close), `timeout` (resume window over) or `kicked`; `closeCode` is the
    /// WebSocket close code the server sent, when it closed a connection itself.
    case sessionEnded(session: String, user: String, reason: String, closeCode: UInt16?)
    /// The first peer joined a room that had none.
    case roomStarted(room: String)
    /// The last peer left.
    case roomFinished(room: String)
    case peerJoined(room: String, session: String, user: String)
    /// `reason`: as in the `peer-left` frame (`left`, `disconnected`, `timeout`, `kicked`).
    case peerLeft(room: String, session: String, user: String, reason: String)
}
