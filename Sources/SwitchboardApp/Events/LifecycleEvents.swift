import Foundation
import Logging
import Signaling
import TURN

/// One lifecycle event of either core, with the wall-clock time it happened (for webhooks and logs; the cores
/// themselves only measure durations).
public enum LifecycleEvent: Sendable, Equatable {
    case signaling(SignalingEvent)
    case turn(TURNEvent)
}

/// The one stream of lifecycle events. The signaling hub and every TURN core hand theirs here as they happen, on
/// their own loops; each consumer gets every event and must not block (it queues, counts or logs, and returns).
/// Webhooks, metrics, the admin API and the log lines all read this stream; none of them derives state of its own.
public final class LifecycleEvents: Sendable {
    public typealias Consumer = @Sendable (LifecycleEvent, Date) -> Void
    private let consumers: [Consumer]

    public init(consumers: [Consumer]) {
        self.consumers = consumers
    }

    public func publish(_ event: LifecycleEvent) {
        guard !consumers.isEmpty else { return }
        let now = Date()
        for consumer in consumers { consumer(event, now) }
    }

    public func signaling(_ event: SignalingEvent) { publish(.signaling(event)) }
    public func turn(_ event: TURNEvent) { publish(.turn(event)) }
}

/// One log line per session start and end and per allocation start and end (with its traffic), never one per
/// packet: the operator's record of who used the server.
public struct LifecycleLog: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func consume(_ event: LifecycleEvent, at date: Date) {
        switch event {
        case .signaling(.sessionStarted(let session, let user)):
            logger.info("session started", metadata: ["session": "\(session)", "user": "\(user)"])
        case .signaling(.sessionResumed(let session, let user)):
            logger.info("session resumed", metadata: ["session": "\(session)", "user": "\(user)"])
        case .signaling(.sessionEnded(let session, let user, let reason, let code)):
            var metadata: Logger.Metadata = ["session": "\(session)", "user": "\(user)", "reason": "\(reason)"]
            if let code { metadata["close-code"] = "\(code)" }
            logger.info("session ended", metadata: metadata)
        case .turn(.allocationCreated(let summary)):
            logger.info("allocation created", metadata: [
                "five-tuple": "\(summary.fiveTuple)", "user": "\(summary.username)",
                "relay": "\(summary.relays.map(\.description).joined(separator: ","))",
                "relay-transport": "\(summary.relayProtocol == .tcp ? "tcp" : "udp")", "lifetime": "\(summary.lifetime)",
            ])
        case .turn(.allocationClosed(let summary, let reason, let traffic)):
            logger.info("allocation closed", metadata: [
                "five-tuple": "\(summary.fiveTuple)", "user": "\(summary.username)", "reason": "\(reason.rawValue)",
                "bytes-to-peer": "\(traffic.bytesToPeer)", "packets-to-peer": "\(traffic.packetsToPeer)",
                "bytes-to-client": "\(traffic.bytesToClient)", "packets-to-client": "\(traffic.packetsToClient)",
            ])
        default:
            break
        }
    }
}
