import Foundation
import RelayEdge
import Signaling
import TURN

/// TURN credentials handed out on join name their signaling session (`EXPIRY:USER:SESSION`). This consumer keeps
/// the relay's view of live sessions in step with the hub: a session's credentials work while it lives, and when it
/// ends (left, kicked, revoked, resume window over) they are refused and its allocations are closed.
struct SessionBoundCredentials: Sendable {
    let ledger: AllocationLedger
    let relay: @Sendable () -> RelayServer?

    func consume(_ event: LifecycleEvent, at date: Date) {
        switch event {
        case .signaling(.sessionStarted(let session, _)):
            ledger.sessionStarted(session)
        case .signaling(.sessionEnded(let session, _, _, _)):
            ledger.sessionEnded(session)
            guard let relay = relay() else { return }
            // Off the hub's loop: closing hops to every TURN core.
            Task { _ = try? await relay.closeAllocations(session: session) }
        default:
            break
        }
    }
}
