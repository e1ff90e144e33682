import Foundation
import XCTest

/// Signaling over real WebSocket connections to a running server on loopback.
final class SignalingWebSocketTests: XCTestCase {
    private func connect(_ server: RunningServer, query: String = "") async throws -> (RawWebSocket, [String: Any]) {
        let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws" + query)
        let welcome = try await socket.next(type: "welcome")
        return (socket, try XCTUnwrap(welcome))
    }

    private func join(_ socket: RawWebSocket, _ room: String) async throws -> [String: Any] {
        try await socket.sendJSON(["type": "join", "room": room])
        let joined = try await socket.next(type: "joined")
        return try XCTUnwrap(joined)
    }

    func testOfferAnswerAndCandidatesFlowBetweenTwoPeers() async throws {
        let server = try await running()
        let (alice, aliceWelcome) = try await connect(server)
        let (bob, _) = try await connect(server)
        let aliceJoined = try await join(alice, "call")
        let iceServers = try XCTUnwrap(aliceJoined["iceServers"] as? [[String: Any]])
        let turn = try XCTUnwrap(iceServers.first { ($0["urls"] as? [String])?.first?.hasPrefix("turn:") == true })
        XCTAssertEqual((turn["urls"] as? [String])?.first, "turn:127.0.0.1:\(server.address("stun udp").port)?transport=udp")
        XCTAssertNotNil(turn["username"] as? String)

        let bobJoined = try await join(bob, "call")
        XCTAssertEqual((bobJoined["peers"] as? [[String: Any]])?.first?["id"] as? String, aliceWelcome["session"] as? String)
        let noticed = try await alice.next(type: "peer-joined")
        let bobID = try XCTUnwrap((noticed?["peer"] as? [String: Any])?["id"] as? String)

        try await alice.sendJSON(["type": "signal", "room": "call", "to": bobID, "data": ["kind": "offer", "sdp": "v=0"], "id": 1])
        let offer = try await bob.next(type: "signal")
        XCTAssertEqual((offer?["data"] as? [String: Any])?["sdp"] as? String, "v=0")
        XCTAssertEqual(offer?["from"] as? String, aliceWelcome["session"] as? String)
        let ack = try await alice.next(type: "ack")
        XCTAssertEqual(ack?["id"] as? Int, 1)

        try await bob.sendJSON(["type": "broadcast", "room": "call", "data": "everyone", "includeSelf": true])
        expectEqual(try await alice.next(type: "broadcast")?["data"] as? String, "everyone")
        expectEqual(try await bob.next(type: "broadcast")?["data"] as? String, "everyone")
        try await server.stop()
    }

    /// Frames sent in two bursts, then a fragmented message, are all handled in the order the client sent them.
    func testFramesKeepTheirOrderAcrossBurstsAndFragments() async throws {
        let server = try await running()
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        for id in 1...20 { try await socket.send(#"{"type":"ping","id":\#(id)}"#) }
        try await Task.sleep(for: .milliseconds(100))
        for id in 21...30 { try await socket.send(#"{"type":"ping","id":\#(id)}"#) }
        let fragmented = Array(#"{"type":"ping","id":31}"#.utf8)
        try await socket.sendFrame(opcode: 0x1, payload: Array(fragmented[..<10]), fin: false)
        try await socket.sendFrame(opcode: 0x0, payload: Array(fragmented[10...]))
        for id in 32...40 { try await socket.send(#"{"type":"ping","id":\#(id)}"#) }
        var pongs: [Int] = []
        while pongs.count < 40, let frame = try await socket.nextJSON() {
            if frame["type"] as? String == "pong", let id = frame["id"] as? Int { pongs.append(id) }
        }
        XCTAssertEqual(pongs, Array(1...40))
        try await server.stop()
    }

    func testDroppedConnectionResumesWithMissedFramesAndNoPeerLeft() async throws {
        let server = try await running()
        let (alice, _) = try await connect(server)
        let (bob, bobWelcome) = try await connect(server)
        _ = try await join(alice, "r")
        let bobJoined = try await join(bob, "r")
        _ = try await alice.next(type: "peer-joined")

        await bob.drop()
        try await Task.sleep(for: .milliseconds(200))
        for n in 0..<3 { try await alice.sendJSON(["type": "broadcast", "room": "r", "data": n]) }
        try await Task.sleep(for: .milliseconds(200))

        let token = try XCTUnwrap(bobWelcome["resume"] as? String)
        let last = try XCTUnwrap(bobJoined["seq"] as? Int)
        let (resumed, welcome) = try await connect(server, query: "?resume=\(token)&last=\(last)")
        XCTAssertEqual(welcome["resumed"] as? Bool, true)
        XCTAssertEqual(welcome["session"] as? String, bobWelcome["session"] as? String)
        var replayed: [Int] = []
        while let frame = try await resumed.nextJSON(timeout: .milliseconds(500)) {
            if frame["type"] as? String == "broadcast" { replayed.append(frame["data"] as! Int) }
        }
        XCTAssertEqual(replayed, [0, 1, 2])
        // Alice saw only acks of her own broadcasts, no peer-left.
        while let frame = try await alice.nextJSON(timeout: .milliseconds(300)) {
            XCTAssertNotEqual(frame["type"] as? String, "peer-left")
        }
        try await server.stop()
    }

    func testCleanCloseEndsTheSessionAtOnce() async throws {
        let server = try await running()
        let (alice, _) = try await connect(server)
        let (bob, _) = try await connect(server)
        _ = try await join(alice, "r")
        _ = try await join(bob, "r")
        _ = try await alice.next(type: "peer-joined")
        try await bob.sendClose(1000)
        let left = try await alice.next(type: "peer-left")
        XCTAssertEqual(left?["reason"] as? String, "disconnected")
        try await server.stop()
    }

    func testBinaryAndOversizedFramesCloseOnlyThatSession() async throws {
        let server = try await running()
        let (alice, _) = try await connect(server)
        let (bob, _) = try await connect(server)
        let (carol, _) = try await connect(server)
        for socket in [alice, bob, carol] { _ = try await join(socket, "r") }

        try await bob.sendBinary([1, 2, 3])
        expectNil(try await bob.next(type: "never", timeout: .seconds(1)))
        try await carol.send(#"{"type":"broadcast","room":"r","data":""# + String(repeating: "x", count: 70_000) + #""}"#)

        var reasons: [String] = []
        while let frame = try await alice.nextJSON(timeout: .seconds(1)) {
            if frame["type"] as? String == "peer-left" { reasons.append(frame["reason"] as! String) }
        }
        XCTAssertEqual(reasons, ["kicked", "kicked"])
        try await alice.sendJSON(["type": "ping", "id": "still-here"])
        expectEqual(try await alice.next(type: "pong")?["id"] as? String, "still-here")
        try await server.stop()
    }

    func testCloseCodesForBinaryAndOversizedFrames() async throws {
        let server = try await running()
        let (bob, _) = try await connect(server)
        try await bob.sendBinary([1])
        expectEqual(try await bob.next(), .close(code: 1003, reason: "binary frames are not supported"))
        let (carol, _) = try await connect(server)
        try await carol.send(#"{"type":"ping","pad":""# + String(repeating: "x", count: 70_000) + #""}"#)
        expectEqual(try await carol.next(), .close(code: 1009, reason: "frame too large"))
        let (dave, _) = try await connect(server)
        try await dave.send(String(repeating: "y", count: 200_000))
        // Beyond the WebSocket layer's own bound the connection is closed with 1009 while the client is still
        // writing, so the kernel may reset it before the close frame is read: either outcome ends only this session.
        let answer = try await dave.next()
        if let answer { XCTAssertEqual(answer, .close(code: 1009, reason: "frame too large")) }
        let ended = await eventually { (try? await server.service.inspect().signalingSessions) == 0 }
        XCTAssertTrue(ended, "the oversized frame must end its session")
        try await server.stop()
    }

    func testMalformedFramesGetErrorsAndTheSessionContinues() async throws {
        let server = try await running()
        let (alice, _) = try await connect(server)
        for text in ["nope", "[1]", #"{"type":"fly"}"#, #"{"type":"join"}"#, #"{"type":"signal","room":"r","to":"x","data":1,"id":5}"#] {
            try await alice.send(text)
            let error = try await alice.next(type: "error")
            XCTAssertNotNil(error?["code"] as? String, text)
        }
        _ = try await join(alice, "r")
        try await server.stop()
    }

    func testResumeWithUnknownTokenClosesWith4003() async throws {
        let server = try await running()
        let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws?resume=bogus&last=3")
        expectEqual(try await socket.next(), .close(code: 4003, reason: "resume-failed"))
        try await server.stop()
    }

    func testAClientThatStopsReadingIsClosedAsTooSlowAndOthersCarryOn() async throws {
        let server = try await running()
        let (slow, _) = try await connect(server)
        _ = try await join(slow, "r")
        try await slow.channel.setOption(.autoRead, value: false).get()
        var senders: [RawWebSocket] = []
        for _ in 0..<6 {
            let (sender, _) = try await connect(server)
            _ = try await join(sender, "r")
            senders.append(sender)
        }
        // 6 senders × 60 KB broadcasts: the slow client's kernel buffers fill, then 1 MiB queues at the server.
        let blob = String(repeating: "z", count: 60_000)
        var slowLeft = false
        for _ in 0..<40 where !slowLeft {
            for sender in senders {
                try await sender.send(#"{"type":"broadcast","room":"r","data":""# + blob + #""}"#)
            }
            try await Task.sleep(for: .milliseconds(100))
            slowLeft = (try? await server.service.inspect().signalingSessions) == senders.count
        }
        XCTAssertTrue(slowLeft, "the client that stopped reading must be ended")
        // The others drop it from the room and still talk.
        try await senders[0].sendJSON(["type": "ping", "id": "alive"])
        expectEqual(try await senders[0].next(type: "pong", timeout: .seconds(5))?["id"] as? String, "alive")
        try await server.stop()
    }

    func testSilentConnectionsAreClosedAfterTheFirstRequestDeadline() async throws {
        let server = try await running { $0.httpLimits.requestTimeout = 0.5 }
        let silent = try await RawWebSocket.openTCP(port: server.httpPort)
        let (talking, _) = try await connect(server)
        let closed = await eventually(within: 3) { !silent.isOpen }
        XCTAssertTrue(closed, "a connection that never sent a byte must be closed")
        XCTAssertTrue(talking.isOpen, "an upgraded connection is not subject to the first-request deadline")
        try await server.stop()
    }

    func testHalfOpenConnectionsDoNotDisturbOthers() async throws {
        let server = try await running()
        var idle: [RawWebSocket] = []
        // Both ends live in this process, so stay well inside a default 1,024-descriptor limit; Interop/half_open.py
        // holds 10,000 against a separate server process.
        for _ in 0..<250 { idle.append(try await RawWebSocket.openTCP(port: server.httpPort)) }
        // Upgraded but silent connections too.
        for _ in 0..<50 { idle.append(try await RawWebSocket.connect(port: server.httpPort)) }
        let (alice, _) = try await connect(server)
        let (bob, _) = try await connect(server)
        _ = try await join(alice, "r")
        _ = try await join(bob, "r")
        try await alice.sendJSON(["type": "broadcast", "room": "r", "data": "through"])
        expectEqual(try await bob.next(type: "broadcast")?["data"] as? String, "through")
        for socket in idle { await socket.drop() }
        try await server.stop()
    }
}
