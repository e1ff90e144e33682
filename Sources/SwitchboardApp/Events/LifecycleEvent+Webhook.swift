import Foundation
import STUN
import TURN
import Webhooks

extension LifecycleEvent {
    /// The webhook this event is announced as (docs/webhooks.md lists the fields); nil for the events webhooks do
    /// not carry: sessions, refreshes, permissions, channels, refusals.
    func webhookEvent(at date: Date) -> WebhookEvent? {
        switch self {
        case .signaling(.roomStarted(let room)):
            WebhookEvent(type: "room.started", timestamp: date, fields: ["room": .string(room)])
        case .signaling(.roomFinished(let room)):
            WebhookEvent(type: "room.finished", timestamp: date, fields: ["room": .string(room)])
        case .signaling(.peerJoined(let room, let session, let user)):
            WebhookEvent(type: "peer.joined", timestamp: date,
                         fields: ["room": .string(room), "peer": .string(session), "user": .string(user)])
        case .signaling(.peerLeft(let room, let session, let user, let reason)):
            WebhookEvent(type: "peer.left", timestamp: date,
                         fields: ["room": .string(room), "peer": .string(session), "user": .string(user), "reason": .string(reason)])
        case .turn(.allocationCreated(let summary)):
            WebhookEvent(type: "allocation.created", timestamp: date, fields: Self.fields(summary))
        case .turn(.allocationClosed(let summary, let reason, let traffic)):
            WebhookEvent(type: "allocation.closed", timestamp: date, fields: Self.fields(summary).merging([
                "reason": .string(reason.rawValue),
                "bytesToPeer": .int(traffic.bytesToPeer), "packetsToPeer": .int(traffic.packetsToPeer),
                "bytesToClient": .int(traffic.bytesToClient), "packetsToClient": .int(traffic.packetsToClient),
            ]) { _, new in new })
        default:
            nil
        }
    }

    private static func fields(_ summary: AllocationSummary) -> [String: WebhookValue] {
        [
            "user": .string(summary.username),
            "transport": .string("\(summary.fiveTuple.transport)"),
            "client": address(summary.fiveTuple.client),
            "server": address(summary.fiveTuple.server),
            "relays": .array(summary.relays.map(address)),
            "relayTransport": .string(summary.relayProtocol == .tcp ? "tcp" : "udp"),
            "lifetime": .int(Int(summary.lifetime)),
        ]
    }

    private static func address(_ address: TransportAddress) -> WebhookValue {
        .object(["ip": .string(address.ip.description), "port": .int(Int(address.port))])
    }
}

extension WebhookDispatcher {
    /// A lifecycle-event consumer that submits the six announced kinds; it returns at once (see `submit`).
    var lifecycleConsumer: LifecycleEvents.Consumer {
        { [self] event, date in
            if let webhook = event.webhookEvent(at: date) { submit(webhook) }
        }
    }
}
