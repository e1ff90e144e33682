import Signaling
import XCTest

final class ResumeTests: XCTestCase {
    private func welcome(_ h: SignalingHarness, _ session: String) -> [String: Any] {
        h.take(session).first { $0["type"] as? String == "welcome" }!
    }

    /// Two sessions in room "r", and the second one's resume token.
    private func twoInRoom(_ h: SignalingHarness) -> (a: String, b: String, token: String) {
        let a = h.connect(), b = h.connect()
        let token = welcome(h, b)["resume"] as! String
        _ = h.join(a, "r"); _ = h.join(b, "r")
        return (a, b, token)
    }

    func testResumeReplaysMissedFramesExactlyOnceInOrder() {
        let h = SignalingHarness()
        let (a, b, token) = twoInRoom(h)
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
        let (a, b, token) = twoInRoom(h)
        h.disconnect(b, clean: false)
        for n in 0..<9 { h.send(a, ["type": "broadcast", "room": "r", "data": n]) }
        XCTAssertEqual(h.core.sessionCount, 1)
        XCTAssertEqual(h.take(a).last?["reason"] as? String, "kicked")
        XCTAssertEqual(h.resume(token, last: 0), .failure(.replayOverflow))
    }

    func testLargeFramesPastTheReplayBytesEndTheSessionWithOverflow() {
        let h = SignalingHarness { $0.replayBytes = 2_000; $0.frameBurst = 1000 }
        let (a, b, token) = twoInRoom(h)
        h.disconnect(b, clean: false)
        let large = String(repeating: "x", count: 500)
        for n in 0..<3 { h.send(a, ["type": "broadcast", "room": "r", "data": "\(n) \(large)"]) }
        XCTAssertEqual(h.core.sessionCount, 2, "three frames of about 600 bytes fit in 2,000")
        h.send(a, ["type": "broadcast", "room": "r", "data": "3 \(large)"])
        XCTAssertEqual(h.core.sessionCount, 1, "the fourth does not: far fewer frames than replayFrames")
        XCTAssertEqual(h.resume(token, last: 0), .failure(.replayOverflow))
    }

    func testAConnectedSessionKeepsOnlyReplayBytesOfFramesForAResume() {
        // Ten frames of about 600 bytes while connected, then a drop: a resume finds the last three (2,000 bytes).
        func resume(missing: Int) -> Result<String, SignalingCloseReason> {
            let h = SignalingHarness { $0.replayBytes = 2_000; $0.frameBurst = 1000 }
            let (a, b, token) = twoInRoom(h)
            let large = String(repeating: "x", count: 500)
            for n in 0..<10 { h.send(a, ["type": "broadcast", "room": "r", "data": "\(n) \(large)"]) }
            let last = h.take(b).compactMap { $0["seq"] as? Int }.max() ?? 0
            h.disconnect(b, clean: false)
            return h.resume(token, last: UInt64(last - missing))
        }
        guard case .success = resume(missing: 3) else { return XCTFail("the last three frames are kept") }
        XCTAssertEqual(resume(missing: 4), .failure(.replayGap), "four are more than 2,000 bytes")
    }

    func testResumeFromTooFarBackIsAGap() {
        let h = SignalingHarness { $0.replayFrames = 4; $0.frameBurst = 1000 }
        let (a, b, token) = twoInRoom(h)
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

    /// Each overflowing session's peer-left overflows the next one in a chain of rooms: the core walks the chain in a
    /// loop. Run on a thread with a small stack, where a call per link would overflow it.
    func testAChainOfOverflowingSessionsEndsWithoutRecursingThroughIt() {
        let h = SignalingHarness { $0.replayFrames = 1; $0.frameBurst = 1000 }
        let length = 3_000
        let sessions = (0...length).map { _ in h.connect() }
        let lastToken = welcome(h, sessions[length])["resume"] as! String
        // Room i holds sessions i and i + 1.
        for (index, session) in sessions.enumerated() {
            if index > 0 { _ = h.join(session, "chain-\(index - 1)") }
            if index < length { _ = h.join(session, "chain-\(index)") }
        }
        // From the far end inwards: each session drops, then its neighbour fills its one-frame replay buffer.
        for index in stride(from: length, through: 1, by: -1) {
            h.disconnect(sessions[index], clean: false)
            h.send(sessions[index - 1], ["type": "broadcast", "room": "chain-\(index - 1)", "data": index])
        }
        XCTAssertEqual(h.core.sessionCount, length + 1)

        let done = DispatchSemaphore(value: 0)
        // Used by the thread alone until it signals.
        nonisolated(unsafe) let harness = h
        let thread = Thread {
            harness.send(sessions[0], ["type": "broadcast", "room": "chain-0", "data": "last straw"])
            done.signal()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(h.core.sessionCount, 1, "every session of the chain overflowed and ended")
        XCTAssertEqual(h.resume(lastToken, last: 0), .failure(.replayOverflow))
    }
}
