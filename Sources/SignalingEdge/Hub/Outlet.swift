import NIOCore
import Signaling

/// What a WebSocket connection's task is asked to do (text frames go straight onto the channel).
enum OutgoingFrame: Sendable {
    case close(SignalingCloseReason)
}

/// Where a session's frames go right now: a WebSocket connection, or a long-polling mailbox.
enum Outlet {
    /// Text frames are written straight onto the connection (which lives on the hub's event loop) and flushed once
    /// per batch of actions; closes go through the connection's task, which owns the WebSocket close handshake.
    case webSocket(connection: UInt64, writer: WebSocketFrameWriter, closer: AsyncStream<OutgoingFrame>.Continuation)
    case poll(PollMailbox)

    var connection: UInt64 {
        switch self {
        case .webSocket(let connection, _, _): connection
        case .poll(let mailbox): mailbox.connection
        }
    }
}

/// Frames waiting for a long-polling client, and the poll (if any) waiting for them.
struct PollMailbox {
    let connection: UInt64
    let pollID: String
    var pending: [String] = []
    var waiter: (ticket: UInt64, continuation: CheckedContinuation<PollResult, Never>)?
    /// When the client last had a poll outstanding; a client that stops polling counts as dropped.
    var lastSeen: Double
}

/// The answer to `GET /v1/poll/{P}`.
enum PollResult: Sendable, Equatable {
    case frames([String])
    case gone(SignalingCloseReason)
    case unknown
}
