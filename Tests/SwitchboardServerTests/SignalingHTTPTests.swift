import Crypto
import Foundation
import XCTest

/// Long polling, the ICE server API and health, over real HTTP on loopback.
final class SignalingHTTPTests: XCTestCase {
    /// The demo page and the JavaScript client come from the signaling edge's resource bundle; a bundle that is not
    /// found answers 404, which the browser checks would only show much later.
    func testTheDemoPageAndTheClientAreServed() async throws {
        let server = try await running()
        let http = TestHTTP(port: server.httpPort)
        for path in ["/", "/switchboard.js", "/demo.js"] {
            let answer = try await http.request("GET", path)
            XCTAssertEqual(answer.status, 200, "GET \(path)")
        }
        try await server.stop()
    }

    func testHealthAndICEServersWithWorkingRESTCredentials() async throws {
        let server = try await running()
        let http = TestHTTP(port: server.httpPort)
        let health = try await http.request("GET", "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual((health.body as? [String: Any])?["status"] as? String, "ok")

        let answer = try await http.request("GET", "/v1/ice-servers")
        let servers = try XCTUnwrap((answer.body as? [String: Any])?["iceServers"] as? [[String: Any]])
        let turn = try XCTUnwrap(servers.first { $0["username"] != nil })
        let username = try XCTUnwrap(turn["username"] as? String)
        let expiry = try XCTUnwrap(Int(username.split(separator: ":").first ?? ""))
        XCTAssertGreaterThan(expiry, Int(Date().timeIntervalSince1970))
        // The credential is what the relay will recompute: base64(HMAC-SHA1(secret, username)).
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(username.utf8), using: SymmetricKey(data: Array(server.service.authSecrets[0].utf8)))
        XCTAssertEqual(turn["credential"] as? String, Data(mac).base64EncodedString())
        let unknown = try await http.request("GET", "/nothing-here")
        XCTAssertEqual(unknown.status, 404)
        try await server.stop()
    }

    func testLongPollingPeerAndWebSocketPeerSignalEachOther() async throws {
        let server = try await running()
        let http = TestHTTP(port: server.httpPort)
        let opened = try await http.request("POST", "/v1/poll/session")
        XCTAssertEqual(opened.status, 200)
        let poll = try XCTUnwrap((opened.body as? [String: Any])?["poll"] as? String)
        let pollSession = try XCTUnwrap((opened.body as? [String: Any])?["session"] as? String)
        let first = try await http.request("GET", "/v1/poll/\(poll)")
        XCTAssertEqual(((first.body as? [[String: Any]])?.first)?["type"] as? String, "welcome")

        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: [["type": "join", "room": "mix"]]).status, 204)
        _ = try await http.request("GET", "/v1/poll/\(poll)")

        let ws = try await RawWebSocket.connect(port: server.httpPort)
        _ = try await ws.next(type: "welcome")
        try await ws.sendJSON(["type": "join", "room": "mix"])
        let joinedFrame = try await ws.next(type: "joined")
        let joined = try XCTUnwrap(joinedFrame)
        XCTAssertEqual((joined["peers"] as? [[String: Any]])?.first?["id"] as? String, pollSession)

        // A waiting poll is answered as soon as a frame arrives.
        async let waiting = http.request("GET", "/v1/poll/\(poll)")
        try await Task.sleep(for: .milliseconds(300))
        try await ws.sendJSON(["type": "signal", "room": "mix", "to": pollSession, "data": "to poll"])
        var received = try await waiting
        var frames = received.body as? [[String: Any]] ?? []
        while !frames.contains(where: { $0["type"] as? String == "signal" }) {
            received = try await http.request("GET", "/v1/poll/\(poll)")
            frames = received.body as? [[String: Any]] ?? []
        }
        XCTAssertEqual(frames.first { $0["type"] as? String == "signal" }?["data"] as? String, "to poll")

        let selfID = try XCTUnwrap(joined["self"] as? String)
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: ["type": "signal", "room": "mix", "to": selfID, "data": "to ws"]).status, 204)
        expectEqual(try await ws.next(type: "signal")?["data"] as? String, "to ws")

        expectEqual(try await http.request("DELETE", "/v1/poll/\(poll)").status, 204)
        expectEqual(try await ws.next(type: "peer-left")?["reason"] as? String, "disconnected")
        expectEqual(try await http.request("GET", "/v1/poll/\(poll)").status, 404)
        try await server.stop()
    }

    func testLongPollingBadInput() async throws {
        let server = try await running()
        let http = TestHTTP(port: server.httpPort)
        expectEqual(try await http.request("GET", "/v1/poll/unknown").status, 404)
        expectEqual(try await http.request("POST", "/v1/poll/session", body: "{not json").status, 400)
        let tooLarge = try await http.request("POST", "/v1/poll/session", body: String(repeating: " ", count: 20_000))
        expectEqual(tooLarge.status, 413)
        expectEqual((tooLarge.body as? [String: Any])?["error"] as? String, "too-large", "a JSON body says why")
        let opened = try await http.request("POST", "/v1/poll/session")
        let poll = try XCTUnwrap((opened.body as? [String: Any])?["poll"] as? String)
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", body: "garbage").status, 400)
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", body: String(repeating: "[", count: 2_000_000)).status, 413)
        // A bad frame inside a good batch comes back as an error frame; the session lives on.
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: [["type": "nope", "id": 9]]).status, 204)
        let frames = try await http.request("GET", "/v1/poll/\(poll)").body as? [[String: Any]] ?? []
        XCTAssertEqual(frames.first { $0["type"] as? String == "error" }?["ref"] as? Int, 9)
        let resumed = try await http.request("POST", "/v1/poll/session", json: ["resume": "bogus", "last": 0])
        XCTAssertEqual(resumed.status, 410)
        XCTAssertEqual((resumed.body as? [String: Any])?["code"] as? Int, 4003)
        try await server.stop()
    }

    /// Long-polling sessions hold no connection, so they are bounded per address on their own, with the bound
    /// WebSocket connections have; one ending frees a place.
    func testLongPollingSessionsAreBoundedPerAddress() async throws {
        let server = try await running { $0.maxConnectionsPerIP = 3 }
        let http = TestHTTP(port: server.httpPort)
        var polls: [String] = []
        for _ in 0..<3 {
            let opened = try await http.request("POST", "/v1/poll/session")
            expectEqual(opened.status, 200)
            polls.append(try XCTUnwrap((opened.body as? [String: Any])?["poll"] as? String))
        }
        let refused = try await http.request("POST", "/v1/poll/session")
        expectEqual(refused.status, 429)
        expectEqual((refused.body as? [String: Any])?["code"] as? Int, 4014)

        expectEqual(try await http.request("DELETE", "/v1/poll/\(polls[0])").status, 204)
        expectEqual(try await http.request("POST", "/v1/poll/session").status, 200, "the ended one's place is free")
        try await server.stop()
    }

    /// A resume whose replay overflows its new mailbox ends the session at once: its place is given back.
    func testAResumeThatOverflowsItsMailboxGivesItsPlaceBack() async throws {
        let server = try await running {
            $0.maxConnectionsPerIP = 3
            $0.signalingLimits.replayFrames = 4
        }
        let http = TestHTTP(port: server.httpPort)
        let (poll, resume) = try await openPollSession(http)
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: ["type": "join", "room": "full"]).status, 204)
        for n in 0..<3 {
            let frame: [String: Any] = ["type": "broadcast", "room": "full", "data": n, "includeSelf": true]
            expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: frame).status, 204)
        }
        // The welcome and four replayed frames do not fit a mailbox of four.
        let resumed = try await http.request("POST", "/v1/poll/session", json: ["resume": resume, "last": 0])
        expectEqual(resumed.status, 200)
        let newPoll = try XCTUnwrap((resumed.body as? [String: Any])?["poll"] as? String)
        let gone = try await http.request("GET", "/v1/poll/\(newPoll)")
        expectEqual(gone.status, 410)
        expectEqual((gone.body as? [String: Any])?["code"] as? Int, 4010)
        for _ in 0..<3 {
            expectEqual(try await http.request("POST", "/v1/poll/session").status, 200, "every place is free")
        }
        try await server.stop()
    }

    /// A resume that fails with a replay gap ends the session; the old long-polling id, which the server had not
    /// yet seen go idle, learns that at its next poll instead of answering [] for as long as it is polled.
    func testAResumeWithAReplayGapEndsTheOldPollID() async throws {
        let server = try await running { $0.signalingLimits.replayFrames = 4 }
        let http = TestHTTP(port: server.httpPort)
        let (poll, resume) = try await openPollSession(http)
        // More frames than the replay buffer keeps, each polled as it comes.
        expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: ["type": "join", "room": "gap"]).status, 204)
        _ = try await http.request("GET", "/v1/poll/\(poll)")
        for n in 0..<6 {
            let frame: [String: Any] = ["type": "broadcast", "room": "gap", "data": n, "includeSelf": true]
            expectEqual(try await http.request("POST", "/v1/poll/\(poll)", json: frame).status, 204)
            _ = try await http.request("GET", "/v1/poll/\(poll)")
        }
        let resumed = try await http.request("POST", "/v1/poll/session", json: ["resume": resume, "last": 0])
        expectEqual(resumed.status, 410)
        expectEqual((resumed.body as? [String: Any])?["code"] as? Int, 4004)
        let old = try await http.request("GET", "/v1/poll/\(poll)")
        expectEqual(old.status, 410, "the old id learns its session is over")
        expectEqual((old.body as? [String: Any])?["code"] as? Int, 4009)
        try await server.stop()
    }

    /// Opens a long-polling session and takes its welcome: the poll id and the resume token.
    private func openPollSession(_ http: TestHTTP) async throws -> (poll: String, resume: String) {
        let opened = try await http.request("POST", "/v1/poll/session")
        let poll = try XCTUnwrap((opened.body as? [String: Any])?["poll"] as? String)
        let frames = try await http.request("GET", "/v1/poll/\(poll)").body as? [[String: Any]] ?? []
        let resume = try XCTUnwrap(frames.first { $0["type"] as? String == "welcome" }?["resume"] as? String)
        return (poll, resume)
    }
}
