import Signaling
import XCTest

final class ResumeTests: XCTestCase {
    private func welcome(_ h: SignalingHarness, _ session: String) -> [String: Any] {
        h.take(session).first { $0["type"] as? String == "welcome" }!
    }

    func testResumeReplaysMissedFramesExactlyOnceInOrder() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        let token = welcome(h, b)["resume"] as! String
        _ = h.join(a, "r"); _ = h.join(b, "r")
        h.send(a, ["type": "broadcast", "room": "r", "data": "before"])
        let seen = h.take(b)
        let last = seen.map { $0["seq"] as! Int }.max()!

        h.disconnect(b, clean: false)
        for n in 0..<3 { h.send(a, ["type": "broadcast", "room": "r", "data": "missed-\(n)"]) }
        XCTAssertEqual(h.take(b).count, 0)

        guard case .success(let resumed) = h.resume(token, last: UInt64(last)) else { return XCTFail("resume refused") }
        XCTAssertEqual(resumed, b)
        let frames = h.take(b)
        XCTAssertEqual(frames.first?["type"] as? String, "welcome")
        XCTAssertEqual(frames.first?["resumed"] as? Bool, true)
        XCTAssertEqual(frames.dropFirst().map { $0["data"] as! String }, ["missed-0", "missed-1", "missed-2"])
        // Live again: the next frame arrives once, with the next sequence number.
        h.send(a, ["type": "broadcast", "room": "r", "data": "after"])
        let after = h.take(b)
        XCTAssertEqual(after.map { $0["data"] as! String }, ["after"])
        XCTAssertEqual(after[0]["seq"] as? Int, (frames.last!["seq"] as! Int) + 1)
    }

    func testResumeWithUnknownTokenOrFutureSeqFails() {
        let h = SignalingHarness()
        let a = h.connect()
        let token = welcome(h, a)["resume"] as! String
        h.disconnect(a, clean: false)
        XCTAssertEqual(h.resume("not-a-token", last: 0), .failure(.resumeFailed))
        XCTAssertEqual(h.resume(token, last: 99), .failure(.resumeFailed))
        XCTAssertEqual(h.resume(token, last: 0), .success(a))
    }

    func testResumeAfterWindowFails() {
        let h = SignalingHarness { $0.resumeWindow = 10 }
        let a = h.connect()
        let token = welcome(h, a)["resume"] as! String
        h.disconnect(a, clean: false)
        h.advance(11)
        XCTAssertEqual(h.resume(token, last: 0), .failure(.resumeFailed))
    }

    func testFramesPastTheReplayBufferEndTheSessionWithOverflow() {
        let h = SignalingHarness { $0.replayFrames = 8; $0.frameBurst = 1000 }
        let a = h.connect(), b = h.connect()
        let token = welcome(h, b)["resume"] as! String
        _ = h.join(a, "r"); _ = h.join(b, "r")
        h.disconnect(b, clean: false)
        for n in 0..<9 { h.send(a, ["type": "broadcast", "room": "r", "data": n]) }
        XCTAssertEqual(h.core.sessionCount, 1)
        XCTAssertEqual(h.take(a).last?["reason"] as? String, "kicked")
        XCTAssertEqual(h.resume(token, last: 0), .failure(.replayOverflow))
    }

    func testResumeFromTooFarBackIsAGap() {
        let h = SignalingHarness { $0.replayFrames = 4; $0.frameBurst = 1000 }
        let a = h.connect(), b = h.connect()
        let token = welcome(h, b)["resume"] as! String
        _ = h.join(a, "r"); _ = h.join(b, "r")
        for n in 0..<10 { h.send(a, ["type": "broadcast", "room": "r", "data": n]) }
        h.disconnect(b, clean: false)
        XCTAssertEqual(h.resume(token, last: 1), .failure(.replayGap))
        XCTAssertEqual(h.core.sessionCount, 1)
        XCTAssertEqual(h.resume(token, last: 1), .failure(.replayGap))
    }

    func testResumeBySomeoneElseIsRefused() {
        let h = SignalingHarness()
        let a = h.connect(user: "alice")
        let token = welcome(h, a)["resume"] as! String
        h.disconnect(a, clean: false)
        var actions: [SignalingCore.Action] = []
        let result = h.core.resume(token: token, last: 0, identity: Identity(user: "mallory"), host: "h", now: h.now, into: &actions)
        XCTAssertEqual(result, .failure(.resumeFailed))
        XCTAssertTrue(h.core.isResumable(a))
    }
}
