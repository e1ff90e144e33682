/// A refusal the session survives, sent as `{"type":"error","code":…,"message":…,"ref":…}`.
public struct SignalingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad-request"
        case unauthorized
        case forbidden
        case roomFull = "room-full"
        case tooManyRooms = "too-many-rooms"
        case notInRoom = "not-in-room"
        case unknownPeer = "unknown-peer"
        case tooLarge = "too-large"
        case rateLimited = "rate-limited"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    static func badRequest(_ message: String) -> SignalingError { SignalingError(code: .badRequest, message: message) }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Why a session's connection is closed (WebSocket close code; long polling answers 410 with the same code).
public struct SignalingCloseReason: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: UInt16
    public var reason: String

    public init(code: UInt16, reason: String) {
        self.code = code
        self.reason = reason
    }

    public static let normal = SignalingCloseReason(code: 1000, reason: "normal")
    public static let binaryFrame = SignalingCloseReason(code: 1003, reason: "binary frames are not supported")
    public static let frameTooLarge = SignalingCloseReason(code: 1009, reason: "frame too large")
    public static let invalidText = SignalingCloseReason(code: 1007, reason: "text frame is not valid UTF-8")
    public static let goingAway = SignalingCloseReason(code: 1001, reason: "server shutting down")

    /// RFC 6455 framing broken by the client (unmasked frame, fragments out of order, reserved bits).
    public static func protocolError(_ detail: String) -> SignalingCloseReason {
        SignalingCloseReason(code: 1002, reason: "protocol error: \(detail)")
    }
    public static let authRequired = SignalingCloseReason(code: 4000, reason: "bad-request: the first frame must be auth")
    public static let unauthorized = SignalingCloseReason(code: 4001, reason: "unauthorized")
    public static let tokenExpired = SignalingCloseReason(code: 4002, reason: "token-expired")
    public static let resumeFailed = SignalingCloseReason(code: 4003, reason: "resume-failed")
    public static let replayGap = SignalingCloseReason(code: 4004, reason: "replay-gap")
    public static let replayOverflow = SignalingCloseReason(code: 4005, reason: "replay-overflow")
    public static let flood = SignalingCloseReason(code: 4006, reason: "flood")
    public static let serverFull = SignalingCloseReason(code: 4007, reason: "server-full")
    public static let idleTimeout = SignalingCloseReason(code: 4008, reason: "idle-timeout")
    public static let replaced = SignalingCloseReason(code: 4009, reason: "replaced")
    public static let tooSlow = SignalingCloseReason(code: 4010, reason: "too-slow")
    /// Ended by the operator (admin API `kick`).
    public static let kicked = SignalingCloseReason(code: 4011, reason: "kicked")
    /// The user's access was revoked (admin API `revoke`).
    public static let revoked = SignalingCloseReason(code: 4012, reason: "revoked")
    /// The server is draining: new sessions go elsewhere; resumes of existing ones are still served.
    public static let draining = SignalingCloseReason(code: 4013, reason: "draining")
    /// Long polling: the client's address holds as many sessions as it may hold connections
    /// (`--max-connections-per-ip`).
    public static let tooManyFromAddress = SignalingCloseReason(code: 4014, reason: "too-many-sessions")

    public var description: String { "\(code) \(reason)" }
}
