import Foundation
import Signaling
import STUN
@testable import SwitchboardApp
@testable import TURN
import Webhooks
import XCTest

/// Lifecycle events as webhooks: the mapping, and a running server announcing a room to a receiver.
final class WebhookEventsTests: XCTestCase {
    func testTheSixAnnouncedEventsMapToTheirTypesAndFields() throws {
        let date = Date()
        let tuple = FiveTuple(client: TransportAddress(ip: .ipv4Loopback, port: 50000),
                              server: TransportAddress(ip: .ipv4Loopback, port: 3478), transport: .udp)
        let summary = AllocationSummary(fiveTuple: tuple, username: "alice", relays: [TransportAddress(ip: .ipv4Loopback, port: 49200)],
                                        relayProtocol: .udp, lifetime: 600)
        let started = try XCTUnwrap(LifecycleEvent.signaling(.roomStarted(room: "call")).webhookEvent(at: date))
        XCTAssertEqual(started, WebhookEvent(type: "room.started", timestamp: date, fields: ["room": "call"]))
        XCTAssertEqual(LifecycleEvent.signaling(.roomFinished(room: "call")).webhookEvent(at: date)?.type, "room.finished")
        XCTAssertEqual(LifecycleEvent.signaling(.peerJoined(room: "call", session: "s1", user: "bob")).webhookEvent(at: date)?.fields,
                       ["room": "call", "peer": "s1", "user": "bob"])
        XCTAssertEqual(LifecycleEvent.signaling(.peerLeft(room: "call", session: "s1", user: "bob", reason: "timeout"))
                        .webhookEvent(at: date)?.fields,
                       ["room": "call", "peer": "s1", "user": "bob", "reason": "timeout"])
        let created = try XCTUnwrap(LifecycleEvent.turn(.allocationCreated(summary)).webhookEvent(at: date))
        XCTAssertEqual(created.type, "allocation.created")
        XCTAssertEqual(created.fields["client"], .object(["ip": "127.0.0.1", "port": 50000]))
        XCTAssertEqual(created.fields["relays"], .array([.object(["ip": "127.0.0.1", "port": 49200])]))
        XCTAssertEqual(created.fields["transport"], "udp")
        XCTAssertEqual(created.fields["relayTransport"], "udp")
        let traffic = AllocationTraffic.Snapshot(bytesToPeer: 10, packetsToPeer: 1, bytesToClient: 20, packetsToClient: 2)
        let closed = try XCTUnwrap(LifecycleEvent.turn(.allocationClosed(summary, reason: .expired, traffic: traffic)).webhookEvent(at: date))
        XCTAssertEqual(closed.type, "allocation.closed")
        XCTAssertEqual(closed.fields["reason"], "expired")
        XCTAssertEqual(closed.fields["bytesToClient"], 20)
        XCTAssertEqual(closed.fields["packetsToPeer"], 1)
        XCTAssertEqual(closed.fields["user"], "alice")
        XCTAssertNil(LifecycleEvent.signaling(.sessionStarted(session: "s1", user: "bob")).webhookEvent(at: date))
        XCTAssertNil(LifecycleEvent.turn(.allocationRefreshed(tuple, lifetime: 600)).webhookEvent(at: date))
    }

    func testAURLWithoutASecretIsRefused() throws {
        var configuration = ServerConfiguration()
        configuration.webhooks.urls = ["http://127.0.0.1:9/hooks"]
        XCTAssertThrowsError(try configuration.webhookSettings()) { error in
            XCTAssertEqual((error as? ConfigurationError)?.key, "webhook-secret")
        }
    }

    /// A WebSocket client joins a room on a running server; the receiver gets `room.started` then `peer.joined`,
    /// signed with the configured secret, and after the client leaves `peer.left` and `room.finished`.
    func testARunningServerAnnouncesARoomToTheReceiver() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let queue = FileManager.default.temporaryDirectory.appendingPathComponent("webhooks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: queue) }
        let server = try await running {
            $0.webhooks.urls = [receiver.url.absoluteString]
            $0.webhooks.secrets = ["server-test-secret"]
            $0.webhooks.queueDirectory = queue.path
        }
        let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws")
        let welcome = try await socket.next(type: "welcome")
        let session = try XCTUnwrap(welcome?["session"] as? String)
        try await socket.sendJSON(["type": "join", "room": "standup"])
        _ = try await socket.next(type: "joined")
        let joined = await eventually { receiver.deliveries.count >= 2 }
        XCTAssertTrue(joined)
        XCTAssertEqual(receiver.deliveries.prefix(2).map(\.type), ["room.started", "peer.joined"])
        let peerJoined = receiver.deliveries[1]
        XCTAssertEqual(peerJoined.json["room"] as? String, "standup")
        XCTAssertEqual(peerJoined.json["peer"] as? String, session)
        XCTAssertEqual(peerJoined.json["id"] as? String, peerJoined.headers["switchboard-id"])
        let signature = try XCTUnwrap(peerJoined.headers["switchboard-signature"])
        let timestamp = try XCTUnwrap(peerJoined.headers["switchboard-timestamp"])
        XCTAssertTrue(WebhookSignature.verify(header: signature, timestamp: timestamp, body: peerJoined.body, secret: "server-test-secret"))

        try await socket.sendJSON(["type": "leave", "room": "standup"])
        let left = await eventually { receiver.deliveries.count >= 4 }
        XCTAssertTrue(left)
        XCTAssertEqual(receiver.deliveries.map(\.type), ["room.started", "peer.joined", "peer.left", "room.finished"])
        XCTAssertEqual(server.service.webhooks?.statistics.delivered, 4)
        try await server.stop()
    }
}
