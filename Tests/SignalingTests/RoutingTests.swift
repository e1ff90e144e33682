import Signaling
import XCTest

final class RoutingTests: XCTestCase {
    func testJoinListsEarlierPeersAndHandsOutICEServers() {
        let h = SignalingHarness()
        let alice = h.connect(user: "alice")
        let bob = h.connect(user: "bob")
        XCTAssertEqual(h.types(alice), ["welcome"])
        let aliceJoined = h.join(alice, "room-1", meta: ["name": "Alice"])!
        XCTAssertEqual(aliceJoined["self"] as? String, alice)
        XCTAssertEqual((aliceJoined["peers"] as! [Any]).count, 0)
        let ice = aliceJoined["iceServers"] as! [[String: Any]]
        XCTAssertEqual(ice.first?["urls"] as? String, "turn:127.0.0.1:3478")
        XCTAssertEqual(ice.first?["username"] as? String, "x:alice")

        let bobJoined = h.join(bob, "room-1")!
        let peers = bobJoined["peers"] as! [[String: Any]]
        XCTAssertEqual(peers.map { $0["id"] as! String }, [alice])
        XCTAssertEqual(peers.first?["user"] as? String, "alice")
        XCTAssertEqual((peers.first?["meta"] as? [String: Any])?["name"] as? String, "Alice")

        let notice = h.take(alice)
        XCTAssertEqual(notice.map { $0["type"] as! String }, ["peer-joined"])
        XCTAssertEqual((notice[0]["peer"] as! [String: Any])["id"] as? String, bob)
        XCTAssertEqual(h.core.members(of: "room-1"), [alice, bob])
    }

    func testSignalToOnePeerReachesOnlyThatPeerWithItsSender() {
        let h = SignalingHarness()
        let a = h.connect(user: "a"), b = h.connect(user: "b"), c = h.connect(user: "c")
        for s in [a, b, c] { _ = h.join(s, "r") }
        _ = [a, b, c].map { h.take($0) }

        h.send(a, ["type": "signal", "room": "r", "to": b, "data": ["sdp": "v=0\r\n", "kind": "offer"], "id": 7])
        let atB = h.take(b)
        XCTAssertEqual(atB.count, 1)
        XCTAssertEqual(atB[0]["type"] as? String, "signal")
        XCTAssertEqual(atB[0]["from"] as? String, a)
        XCTAssertEqual(atB[0]["fromUser"] as? String, "a")
        XCTAssertEqual((atB[0]["data"] as? [String: Any])?["sdp"] as? String, "v=0\r\n")
        XCTAssertEqual(h.take(c).count, 0)
        let atA = h.take(a)
        XCTAssertEqual(atA.map { $0["type"] as! String }, ["ack"])
        XCTAssertEqual(atA[0]["id"] as? Int, 7)
    }

    func testSignalToUserReachesAllTheirDevicesButNotTheSender() {
        let h = SignalingHarness()
        let phone = h.connect(user: "carol"), laptop = h.connect(user: "carol"), dave = h.connect(user: "dave")
        for s in [phone, laptop, dave] { _ = h.join(s, "r") }
        _ = [phone, laptop, dave].map { h.take($0) }

        h.send(dave, ["type": "signal", "room": "r", "toUser": "carol", "data": "hi"])
        XCTAssertEqual(h.take(phone).map { $0["data"] as! String }, ["hi"])
        XCTAssertEqual(h.take(laptop).map { $0["data"] as! String }, ["hi"])

        // A user's device addressing its own user reaches the other devices only.
        h.send(phone, ["type": "signal", "room": "r", "toUser": "carol", "data": "sync"])
        XCTAssertEqual(h.take(laptop).map { $0["data"] as! String }, ["sync"])
        XCTAssertEqual(h.take(phone).count, 0)
    }

    func testBroadcastWithAndWithoutSender() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect(), c = h.connect()
        for s in [a, b, c] { _ = h.join(s, "r") }
        _ = [a, b, c].map { h.take($0) }

        h.send(a, ["type": "broadcast", "room": "r", "data": ["n": 1]])
        XCTAssertEqual(h.types(a), [])
        XCTAssertEqual(h.types(b), ["broadcast"])
        XCTAssertEqual(h.types(c), ["broadcast"])

        h.send(a, ["type": "broadcast", "room": "r", "data": ["n": 2], "includeSelf": true])
        XCTAssertEqual(h.types(a), ["broadcast"])
        XCTAssertEqual(h.types(b), ["broadcast"])
    }

    func testRoomsAreIsolated() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect(), c = h.connect()
        _ = h.join(a, "one"); _ = h.join(b, "one"); _ = h.join(c, "two")
        _ = [a, b, c].map { h.take($0) }

        h.send(a, ["type": "broadcast", "room": "one", "data": 1])
        XCTAssertEqual(h.take(c).count, 0)
        XCTAssertEqual(h.types(b), ["broadcast"])
        // c is not in room one, so it cannot be reached there, nor can it address room one.
        h.send(a, ["type": "signal", "room": "one", "to": c, "data": 1, "id": "x"])
        let refused = h.take(a)
        XCTAssertEqual(refused.first?["code"] as? String, "unknown-peer")
        XCTAssertEqual(refused.first?["ref"] as? String, "x")
        h.send(c, ["type": "broadcast", "room": "one", "data": 1])
        XCTAssertEqual(h.take(c).first?["code"] as? String, "not-in-room")
        XCTAssertEqual(h.take(a).count + h.take(b).count, 0)
    }

    func testSequenceNumbersIncreasePerSession() {
        let h = SignalingHarness()
        let a = h.connect(), b = h.connect()
        _ = h.join(a, "r"); _ = h.join(b, "r")
        for n in 0..<5 { h.send(a, ["type": "broadcast", "room": "r", "data": n]) }
        let seqs = h.take(b).map { $0["seq"] as! Int }
        XCTAssertEqual(seqs, Array(seqs.sorted()))
        XCTAssertEqual(Set(seqs).count, seqs.count)
        XCTAssertEqual(seqs.count, 5)
    }

    func testPingIsAnsweredWithPongCarryingTheTime() {
        let h = SignalingHarness()
        let a = h.connect()
        _ = h.take(a)
        h.send(a, ["type": "ping", "time": 12345, "id": 1])
        let frames = h.take(a)
        XCTAssertEqual(frames.map { $0["type"] as! String }, ["pong", "ack"])
        XCTAssertEqual(frames[0]["time"] as? Int, 12345)
    }
}
