import NIOConcurrencyHelpers

/// Whether the server drains, readable without a hop to the hub: a WebSocket upgrade for a new session is answered
/// 503 before the upgrade, so a load balancer or the client can go to another node at once rather than after a
/// handshake and a close frame.
final class DrainGate: Sendable {
    private let state = NIOLockedValueBox(false)

    var isDraining: Bool { state.withLockedValue { $0 } }

    func close() {
        state.withLockedValue { $0 = true }
    }
}
