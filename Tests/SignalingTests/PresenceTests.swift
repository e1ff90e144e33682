import Signaling
import XCTest

final class PresenceTests: XCTestCase {
    func testLeaveTellsOthersAndEmptyRoomsDisappear() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(a)
        h.send(b, ["type": "leave", "room": "r"])
        XCTAssertEqual(h.types(b), ["left"])
        let left = h.take(a)
        XCTAssertEqual(left.first?["type"] as? String, "peer-left")
        XCTAssertEqual(left.first?["peer"] as? String, b)
        XCTAssertEqual(left.first?["reason"] as? String, "left")
        h.send(a, ["type": "leave", "room": "r"])
        XCTAssertEqual(h.core.roomCount, 0)
        h.send(a, ["type": "leave", "room": "r"])
        XCTAssertEqual(h.take(a).last?["code"] as? String, "not-in-room")
    }

    func testCleanDisconnectEndsTheSessionAtOnce() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(a)
        h.disconnect(b, clean: true)
        let left = h.take(a)
        XCTAssertEqual(left.first?["reason"] as? String, "disconnected")
        XCTAssertEqual(h.core.sessionCount, 1)
        XCTAssertFalse(h.core.isResumable(b))
    }

    func testDroppedConnectionStaysInTheRoomUntilTheResumeWindowEnds() {
        let h = SignalingHarness { $0.resumeWindow = 30 }
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(a)
        h.disconnect(b, clean: false)
        XCTAssertTrue(h.core.isResumable(b))
        h.advance(29)
        XCTAssertEqual(h.take(a).count, 0)
        XCTAssertEqual(h.core.members(of: "r"), [a, b])
        h.advance(2)
        let left = h.take(a)
        XCTAssertEqual(left.first?["type"] as? String, "peer-left")
        XCTAssertEqual(left.first?["reason"] as? String, "timeout")
        XCTAssertEqual(h.core.sessionCount, 1)
    }

    func testTerminatedSessionIsClosedAndReportedAsKicked() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(a)
        var actions: [SignalingCore.Action] = []
        h.core.terminate(b, reason: .normal, into: &actions)
        h.apply(actions)
        XCTAssertEqual(h.closed[b], .normal)
        XCTAssertEqual(h.take(a).first?["reason"] as? String, "kicked")
    }
}
