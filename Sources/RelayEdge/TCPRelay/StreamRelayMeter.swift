import NIOConcurrencyHelpers
import TURN

/// What one TCP allocation's data connections share (RFC 6062): the count of what they carried, which the edge
/// hands to the core about once a second and as the relay closes, and with `max-bps` the byte budget. The data
/// connections may live on different event loops; the lock is taken once per forwarded read.
final class StreamRelayMeter: Sendable {
    let rate: StreamRateLimit?
    private let unreported = NIOLockedValueBox(AllocationTraffic.Snapshot())

    init(rate: StreamRateLimit?) {
        self.rate = rate
    }

    /// One forwarded read of `bytes` bytes.
    func count(_ bytes: Int, _ direction: StreamRateLimit.Direction) {
        unreported.withLockedValue { counts in
            switch direction {
            case .toPeer:
                counts.bytesToPeer &+= bytes
                counts.packetsToPeer &+= 1
            case .toClient:
                counts.bytesToClient &+= bytes
                counts.packetsToClient &+= 1
            }
        }
    }

    /// What was counted since the last call.
    func takeUnreported() -> AllocationTraffic.Snapshot {
        unreported.withLockedValue { counts in
            defer { counts = AllocationTraffic.Snapshot() }
            return counts
        }
    }
}
