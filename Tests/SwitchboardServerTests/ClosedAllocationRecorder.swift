import Foundation
import NIOConcurrencyHelpers
import SwitchboardApp
import TURN

/// Keeps the traffic of the first `allocation.closed` event a running server sends.
final class ClosedAllocationRecorder: Sendable {
    private let box = NIOLockedValueBox<AllocationTraffic.Snapshot?>(nil)

    var closedTraffic: AllocationTraffic.Snapshot? { box.withLockedValue { $0 } }

    @Sendable func consume(_ event: LifecycleEvent, _ at: Date) {
        if case .turn(.allocationClosed(_, _, let traffic)) = event {
            box.withLockedValue { if $0 == nil { $0 = traffic } }
        }
    }
}
