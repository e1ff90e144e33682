/// Bounds of the signaling core. Defaults are what docs/signaling-protocol.md promises.
public struct SignalingLimits: Sendable, Equatable {
    public var maxFrameBytes = 64 * 1024
    public var maxMetaBytes = 4 * 1024
    public var maxSessions = 20_000
    public var maxRoomsPerSession = 16
    public var maxPeersPerRoom = 64
    /// Frames per second per session, with a burst; a session far beyond it (10× the burst refused within one
    /// second) is closed as a flood.
    public var framesPerSecond: Double = 50
    public var frameBurst: Double = 100
    /// Frames kept for replay on resume; more than this queued while disconnected ends the session.
    public var replayFrames = 256
    /// Bytes of frames kept for replay, and queued for a long-polling client, per session: the frame count alone
    /// would let a room's broadcasts of large frames hold hundreds of megabytes for clients that read nothing.
    public var replayBytes = 1024 * 1024
    /// Seconds a dropped session stays resumable.
    public var resumeWindow: Double = 30
    /// Seconds between WebSocket pings (announced in `welcome`).
    public var heartbeat: Int = 15
    /// Seconds a long-polling client may go without a poll outstanding before it counts as dropped.
    public var pollIdle: Double = 30

    public init() {}
}
