/// Where a session's frames go right now: a WebSocket connection, or a long-polling mailbox.
enum Outlet {
    /// Frames and the close go through the `LoopOutbox` of the connection's event loop.
    case webSocket(connection: UInt64, WebSocketConnection)
    case poll(PollMailbox)

    var connection: UInt64 {
        switch self {
        case .webSocket(let connection, _): connection
        case .poll(let mailbox): mailbox.connection
        }
    }
}
