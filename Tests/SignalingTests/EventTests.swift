import Signaling
import XCTest

/// The lifecycle events the signaling core emits, in the order things happen.
final class EventTests: XCTestCase {
    func testRoomAndPeerLifecycle() {
        let harness = SignalingHarness()
        let alice = harness.connect(user: "alice")
        let bob = harness.connect(user: "bob")
        XCTAssertEqual(harness.takeEvents(), [.sessionStarted(session: alice, user: "alice"),
                                              .sessionStarted(session: bob, user: "bob")])
        _ = harness.join(alice, "lobby")
        _ = harness.join(bob, "lobby")
        XCTAssertEqual(harness.takeEvents(), [.roomStarted(room: "lobby"),
                                              .peerJoined(room: "lobby", session: alice, user: "alice"),
                                              .peerJoined(room: "lobby", session: bob, user: "bob")])
        harness.send(alice, ["type": "leave", "room": "lobby"])
        XCTAssertEqual(harness.takeEvents(), [.peerLeft(room: "lobby", session: alice, user: "alice", reason: "left")])
        harness.disconnect(bob, clean: true)
        XCTAssertEqual(harness.takeEvents(), [.peerLeft(room: "lobby", session: bob, user: "bob", reason: "disconnected"),
                                              .roomFinished(room: "lobby"),
                                              .sessionEnded(session: bob, user: "bob", reason: "disconnected", closeCode: nil)])
    }

    func testResumeAndTimeout() throws {
        let harness = SignalingHarness()
        let carol = harness.connect(user: "carol")
        let welcome = try XCTUnwrap(harness.take(carol).first)
        let token = try XCTUnwrap(welcome["resume"] as? String)
        _ = harness.join(carol, "r")
        harness.disconnect(carol, clean: false)
        _ = harness.takeEvents()
        XCTAssertEqual(try harness.resume(token, last: 0).get(), carol)
        XCTAssertEqual(harness.takeEvents(), [.sessionResumed(session: carol, user: "carol")])
        harness.disconnect(carol, clean: false)
        harness.advance(3600)
        XCTAssertEqual(harness.takeEvents(), [.peerLeft(room: "r", session: carol, user: "carol", reason: "timeout"),
                                              .roomFinished(room: "r"),
                                              .sessionEnded(session: carol, user: "carol", reason: "timeout", closeCode: nil)])
    }

    func testAFloodEndsTheSessionWithItsCloseCode() {
        let harness = SignalingHarness { $0.framesPerSecond = 1; $0.frameBurst = 1 }
        let dave = harness.connect(user: "dave")
        _ = harness.takeEvents()
        for _ in 0..<50 { harness.send(dave, ["type": "ping"]) }
        XCTAssertEqual(harness.takeEvents().last, .sessionEnded(session: dave, user: "dave", reason: "kicked", closeCode: 4006))
    }
}
