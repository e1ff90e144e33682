import Signaling
import XCTest

final class LimitsTests: XCTestCase {
    func testRoomFull() {
        let h = SignalingHarness { $0.maxPeersPerRoom = 2 }
        let a = h.connect(), b = h.connect(), c = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        h.send(c, ["type": "join", "room": "r", "id": 1])
        let refused = h.take(c).last!
        XCTAssertEqual(refused["code"] as? String, "room-full")
        XCTAssertEqual(refused["ref"] as? Int, 1)
        XCTAssertEqual(h.core.members(of: "r"), [a, b])
    }

    func testTooManyRooms() {
        let h = SignalingHarness { $0.maxRoomsPerSession = 2 }
        let a = h.connect()
        XCTAssertNotNil(h.join(a, "r1"))
        XCTAssertNotNil(h.join(a, "r2"))
        h.send(a, ["type": "join", "room": "r3"])
        XCTAssertEqual(h.take(a).last?["code"] as? String, "too-many-rooms")
    }

    func testTokenLimitedToRooms() {
        let h = SignalingHarness()
        let a = h.connect(rooms: .only(["allowed"]))
        XCTAssertNotNil(h.join(a, "allowed"))
        h.send(a, ["type": "join", "room": "other"])
        XCTAssertEqual(h.take(a).last?["code"] as? String, "forbidden")
    }

    func testJoiningTwiceIsABadRequest() {
        let h = SignalingHarness()
        let a = h.connect()
        _ = h.join(a, "r")
        h.send(a, ["type": "join", "room": "r"])
        XCTAssertEqual(h.take(a).last?["code"] as? String, "bad-request")
        XCTAssertEqual(h.core.members(of: "r"), [a])
    }

    func testServerFull() {
        let h = SignalingHarness { $0.maxSessions = 2 }
        h.connect(); h.connect()
        var actions: [SignalingCore.Action] = []
        let third = h.core.connect(identity: Identity(user: "x"), host: "h", now: h.now, into: &actions)
        XCTAssertEqual(third, .failure(.serverFull))
    }

    func testOversizedFrameClosesWith1009() {
        let h = SignalingHarness { $0.maxFrameBytes = 1024 }
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(b)
        h.send(a, ["type": "broadcast", "room": "r", "data": String(repeating: "x", count: 2000)])
        XCTAssertEqual(h.closed[a], .frameTooLarge)
        XCTAssertEqual(h.take(b).first?["type"] as? String, "peer-left")
    }

    func testOversizedMetaIsRefused() {
        let h = SignalingHarness { $0.maxMetaBytes = 100 }
        let a = h.connect()
        h.send(a, ["type": "join", "room": "r", "meta": ["blob": String(repeating: "y", count: 200)]])
        XCTAssertEqual(h.take(a).last?["code"] as? String, "too-large")
        XCTAssertEqual(h.core.roomCount, 0)
    }

    func testRateLimitRefusesThenRecovers() {
        let h = SignalingHarness { $0.framesPerSecond = 10; $0.frameBurst = 5 }
        let a = h.connect()
        _ = h.take(a)
        for n in 0..<8 { h.send(a, ["type": "ping", "id": n]) }
        let frames = h.take(a)
        XCTAssertEqual(frames.filter { $0["type"] as? String == "pong" }.count, 5)
        let limited = frames.filter { $0["code"] as? String == "rate-limited" }
        XCTAssertEqual(limited.map { $0["ref"] as! Int }, [5, 6, 7])
        h.advance(1)
        h.send(a, ["type": "ping"])
        XCTAssertEqual(h.types(a), ["pong"])
        XCTAssertNil(h.closed[a])
    }

    func testFloodCloses() {
        let h = SignalingHarness { $0.framesPerSecond = 10; $0.frameBurst = 5 }
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        for _ in 0..<60 { h.send(a, ["type": "ping"]) }
        XCTAssertEqual(h.closed[a], .flood)
        XCTAssertEqual(h.core.members(of: "r"), [b])
    }

    func testMalformedFramesGetBadRequestAndTheSessionSurvives() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        _ = h.take(a)
        let bad = [
            "not json", "[]", "42", "{}", #"{"type":7}"#, #"{"type":"nope"}"#, #"{"type":"join"}"#,
            #"{"type":"join","room":""}"#, #"{"type":"join","room":"bad room"}"#,
            #"{"type":"join","room":"\#(String(repeating: "a", count: 129))"}"#,
            #"{"type":"join","room":"ok","meta":[1]}"#, #"{"type":"signal","room":"r","data":1}"#,
            #"{"type":"signal","room":"r","to":"x","toUser":"y","data":1}"#, #"{"type":"signal","room":"r","to":5,"data":1}"#,
            #"{"type":"signal","room":"r","to":"x"}"#, #"{"type":"broadcast","room":"r","data":1,"includeSelf":"yes"}"#,
            #"{"type":"ping","id":{"a":1}}"#, #"{"type":"auth","token":"t"}"#,
            String(repeating: "[", count: 10_000),
        ]
        for text in bad { h.sendText(a, text) }
        let errors = h.take(a)
        XCTAssertEqual(errors.count, bad.count)
        XCTAssertTrue(errors.allSatisfy { $0["code"] as? String == "bad-request" }, "\(errors)")
        XCTAssertNil(h.closed[a])
        h.send(a, ["type": "broadcast", "room": "r", "data": "still here"])
        XCTAssertEqual(h.types(b), ["broadcast"])
    }

    func testErrorsCarryTheFrameID() {
        let h = SignalingHarness()
        let a = h.connect()
        _ = h.take(a)
        h.sendText(a, #"{"type":"leave","room":"r","id":"abc"}"#)
        let error = h.take(a)[0]
        XCTAssertEqual(error["ref"] as? String, "abc")
        XCTAssertEqual(error["code"] as? String, "not-in-room")
    }

    func testFramesFromUnknownOrDetachedSessionsAreIgnored() {
        let h = SignalingHarness()
        let a = h.connect()
        h.disconnect(a, clean: false)
        _ = h.take(a)
        h.send(a, ["type": "ping"])
        h.send("nobody", ["type": "ping"])
        XCTAssertEqual(h.take(a).count, 0)
    }
}
