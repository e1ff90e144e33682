import Foundation
import XCTest

/// Signaling connections on several event loops with the hub on one of them: frames cross loops in batches and must
/// still arrive whole, once and in the order sent, and a session's frames must all be out before its close.
final class SignalingLoopsTests: XCTestCase {
    private func connect(_ server: RunningServer) async throws -> (RawWebSocket, String) {
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        let welcome = try await socket.next(type: "welcome")
        return (socket, try XCTUnwrap(welcome?["session"] as? String))
    }

    func testSignalsBetweenPeersOnEveryLoopArriveOnceAndInOrder() async throws {
        let server = try await running { $0.signalingThreads = 3 }
        // Six peers: with three loops assigned in turn, every pair of loops (and the hub's) carries traffic.
        var peers: [(RawWebSocket, String)] = []
        for _ in 0..<6 { peers.append(try await connect(server)) }
        for (socket, _) in peers {
            try await socket.sendJSON(["type": "join", "room": "loops"])
            _ = try await socket.next(type: "joined")
        }
        // Each peer sends 60 numbered signals to the next one, all at once.
        for (index, (socket, _)) in peers.enumerated() {
            let target = peers[(index + 1) % peers.count].1
            for sequence in 0..<60 {
                try await socket.send(#"{"type":"signal","room":"loops","to":"\#(target)","data":{"n":\#(sequence)}}"#)
            }
        }
        for (index, (socket, _)) in peers.enumerated() {
            let sender = peers[(index + peers.count - 1) % peers.count].1
            var received: [Int] = []
            while received.count < 60, let frame = try await socket.next(type: "signal") {
                XCTAssertEqual(frame["from"] as? String, sender)
                received.append(try XCTUnwrap((frame["data"] as? [String: Any])?["n"] as? Int))
            }
            XCTAssertEqual(received, Array(0..<60), "peer \(index)")
        }
        try await server.stop()
    }

    /// A peer that sends signals and then leaves: the other sees every signal before `peer-left`.
    func testEverySignalArrivesBeforeTheSendersPeerLeft() async throws {
        let server = try await running { $0.signalingThreads = 2 }
        let (first, firstID) = try await connect(server)
        let (second, secondID) = try await connect(server)
        for socket in [first, second] {
            try await socket.sendJSON(["type": "join", "room": "leaving"])
            _ = try await socket.next(type: "joined")
        }
        for sequence in 0..<40 {
            try await first.send(#"{"type":"signal","room":"leaving","to":"\#(secondID)","data":{"n":\#(sequence)}}"#)
        }
        try await first.sendClose(1000)
        var received: [Int] = []
        var left = false
        while !left, let frame = try await second.nextJSON() {
            switch frame["type"] as? String {
            case "signal": received.append(try XCTUnwrap((frame["data"] as? [String: Any])?["n"] as? Int))
            case "peer-left": left = (frame["peer"] as? String ?? (frame["peer"] as? [String: Any])?["id"] as? String) == firstID
            default: break
            }
        }
        XCTAssertTrue(left)
        XCTAssertEqual(received, Array(0..<40))
        try await server.stop()
    }

    /// The hub answers and then closes (a frame over the limit): on whichever loop the connection lives, the answer
    /// comes out before the close frame.
    func testFramesWrittenBeforeAServerCloseComeOutFirst() async throws {
        let server = try await running { $0.signalingThreads = 2 }
        for index in 0..<4 {
            let (socket, _) = try await connect(server)
            try await socket.send(#"{"type":"ping","id":\#(index)}"#)
            try await socket.send(#"{"type":"ping","pad":""# + String(repeating: "x", count: 70_000) + #""}"#)
            // The ping's id also earns an ack.
            expectEqual(try await socket.nextJSON()?["type"] as? String, "pong")
            expectEqual(try await socket.nextJSON()?["type"] as? String, "ack")
            expectEqual(try await socket.next(), .close(code: 1009, reason: "frame too large"))
        }
        try await server.stop()
    }
}
