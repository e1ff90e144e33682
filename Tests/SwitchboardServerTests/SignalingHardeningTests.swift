import Foundation
import NIOCore
import XCTest

/// Long-poll ids that die with their sessions, RFC 6455 framing rules, shutdown codes, origins and the hosts in
/// `iceServers`: each found by an outside probe, each checked here against a running server.
final class SignalingHardeningTests: XCTestCase {
    private func openPoll(_ http: TestHTTP, json: Any? = nil) async throws -> (poll: String, welcome: [String: Any]) {
        let opened = try await http.request("POST", "/v1/poll/session", json: json)
        XCTAssertEqual(opened.status, 200)
        let poll = try XCTUnwrap((opened.body as? [String: Any])?["poll"] as? String)
        let first = try await http.request("GET", "/v1/poll/\(poll)")
        let welcome = try XCTUnwrap((first.body as? [[String: Any]])?.first { $0["type"] as? String == "welcome" })
        return (poll, welcome)
    }

    func testPollIdsAreFreedWhenSessionsEnd() async throws {
        let server = try await running {
            // Long enough that a loaded machine does not idle a session out between its POST and its first GET.
            $0.signalingLimits.pollIdle = 2
            $0.signalingLimits.resumeWindow = 0.5
        }
        let http = TestHTTP(port: server.httpPort)
        for _ in 0..<20 {
            let (poll, _) = try await openPoll(http)
            expectEqual(try await http.request("DELETE", "/v1/poll/\(poll)").status, 204)
        }
        expectEqual((try? await server.service.inspect().pollIDs), 0)
        // Sessions that stop polling idle out, then expire: their ids go too.
        for _ in 0..<20 { _ = try await openPoll(http) }
        let live = try await server.service.inspect().pollIDs
        XCTAssertGreaterThan(live, 0)
        let emptied = await eventually(within: 10) { (try? await server.service.inspect().pollIDs) == 0 }
        XCTAssertTrue(emptied, "idle long-polling sessions must leave no poll id behind")
        let expired = await eventually(within: 10) { (try? await server.service.inspect().signalingSessions) == 0 }
        XCTAssertTrue(expired)
    }

    func testAResumedPollSessionInvalidatesItsOldID() async throws {
        let server = try await running { $0.signalingLimits.pollIdle = 2 }
        let http = TestHTTP(port: server.httpPort)
        let (old, welcome) = try await openPoll(http)
        let resumeToken = try XCTUnwrap(welcome["resume"] as? String)
        // Resumed while the old id is live, and again after it idled out: the old one is dead both times.
        let resumed = try await openPoll(http, json: ["resume": resumeToken, "last": 0])
        XCTAssertNotEqual(resumed.poll, old)
        let stale = try await http.request("GET", "/v1/poll/\(old)")
        XCTAssertTrue([404, 410].contains(stale.status), "old poll id answered \(stale.status)")
        expectEqual(try await http.request("POST", "/v1/poll/\(old)", json: ["type": "ping"]).status == 204, false)
        expectEqual(try await http.request("GET", "/v1/poll/\(old)").status == 200, false)

        // The resumed id idles out (no poll outstanding; idle is checked once a second).
        let idled = await eventually(within: 10) { (try? await server.service.inspect().pollIDs) == 0 }
        XCTAssertTrue(idled)
        let again = try await openPoll(http, json: ["resume": resumeToken, "last": 0])
        for id in [old, resumed.poll] {
            let answer = try await http.request("GET", "/v1/poll/\(id)")
            XCTAssertTrue([404, 410].contains(answer.status), "poll id \(id) answered \(answer.status) after a resume")
            expectEqual(try await http.request("POST", "/v1/poll/\(id)", json: ["type": "ping"]).status == 204, false)
        }
        expectEqual(try await http.request("POST", "/v1/poll/\(again.poll)", json: ["type": "ping", "id": "p"]).status, 204)
        expectEqual((try? await server.service.inspect().pollIDs), 1)
    }

    // MARK: RFC 6455

    private func closeAfter(_ send: (RawWebSocket) async throws -> Void) async throws -> RawWebSocket.Frame? {
        let server = try await running()
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        _ = try await socket.next(type: "welcome")
        try await send(socket)
        var frame = try await socket.next()
        while case .text? = frame { frame = try await socket.next() }
        let closed = await eventually { !socket.isOpen }
        XCTAssertTrue(closed, "the server must close the connection")
        return frame
    }

    private func code(_ frame: RawWebSocket.Frame?) -> UInt16? {
        if case .close(let code, _)? = frame { return code }
        return nil
    }

    /// A client that stops reading while frames keep coming for it: once more than the channel's high-water mark
    /// (1 MiB) waits to be written, its session ends as too slow (4010, docs/signaling-protocol.md), its room hears
    /// that it left, and the server keeps no more of it.
    func testAClientThatStopsReadingEndsAsTooSlow() async throws {
        let server = try await running {
            // The rate limit is not what is tested here.
            $0.signalingLimits.framesPerSecond = 100_000
            $0.signalingLimits.frameBurst = 100_000
        }
        let slow = try await RawWebSocket.connect(port: server.httpPort)
        let welcome = try await slow.next(type: "welcome")
        let slowID = try XCTUnwrap(welcome?["session"] as? String)
        try await slow.sendJSON(["type": "join", "room": "slow"])
        expectNotNil(try await slow.next(type: "joined"))
        try await slow.channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096)
        try await slow.channel.setOption(ChannelOptions.autoRead, value: false)

        let sender = try await RawWebSocket.connect(port: server.httpPort)
        expectNotNil(try await sender.next(type: "welcome"))
        try await sender.sendJSON(["type": "join", "room": "slow"])
        expectNotNil(try await sender.next(type: "joined"))
        // About 1 MiB past whatever the two kernels' socket buffers hold; bounded, so a server that never gives
        // up on the reader fails the test rather than filling the machine.
        let blob = String(repeating: "x", count: 60_000)
        var left: [String: Any]?
        for _ in 0..<400 where left == nil {
            try await sender.sendJSON(["type": "signal", "room": "slow", "to": slowID, "data": ["blob": blob]])
            if case .text(let text)? = try await sender.next(timeout: .milliseconds(5)),
               let frame = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
               frame["type"] as? String == "peer-left" {
                left = frame
            }
        }
        if left == nil { left = try await sender.next(type: "peer-left", timeout: .seconds(10)) }
        let frame = try XCTUnwrap(left, "the reader that stopped reading was never let go")
        XCTAssertEqual(frame["peer"] as? String, slowID)
        XCTAssertEqual(frame["reason"] as? String, "kicked")
        let gone = await eventually(within: 10) { (try? await server.service.inspect().signalingSessions) == 1 }
        XCTAssertTrue(gone, "the slow session must not stay resumable")
    }

    func testUnmaskedClientFramesClose1002() async throws {
        let frame = try await closeAfter { try await $0.sendFrame(opcode: 0x1, payload: Array(#"{"type":"ping"}"#.utf8), masked: false) }
        XCTAssertEqual(code(frame), 1002)
    }

    func testInvalidUTF8Closes1007() async throws {
        let whole = try await closeAfter { try await $0.sendFrame(opcode: 0x1, payload: [0x7B, 0xC3, 0x28, 0x7D]) }
        XCTAssertEqual(code(whole), 1007)
        // Split across fragments, and a code point cut in two that is valid once joined must pass.
        let fragmented = try await closeAfter { socket in
            try await socket.sendFrame(opcode: 0x1, payload: [0x22, 0xE2], fin: false)
            try await socket.sendFrame(opcode: 0x0, payload: [0x28, 0xA1, 0x22], fin: true)
        }
        XCTAssertEqual(code(fragmented), 1007)
    }

    func testFragmentsOutOfOrderClose1002() async throws {
        let orphan = try await closeAfter { try await $0.sendFrame(opcode: 0x0, payload: Array("x".utf8)) }
        XCTAssertEqual(code(orphan), 1002)
        let nested = try await closeAfter { socket in
            try await socket.sendFrame(opcode: 0x1, payload: Array("{".utf8), fin: false)
            try await socket.sendFrame(opcode: 0x1, payload: Array("}".utf8), fin: true)
        }
        XCTAssertEqual(code(nested), 1002)
        let reserved = try await closeAfter { try await $0.sendFrame(opcode: 0x1 | 0x40, payload: Array("{}".utf8)) }
        XCTAssertEqual(code(reserved), 1002)
    }

    func testValidFragmentedTextStillWorks() async throws {
        let server = try await running()
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        _ = try await socket.next(type: "welcome")
        // "é" split between its two bytes.
        try await socket.sendFrame(opcode: 0x1, payload: Array(#"{"type":"ping","id":"\#u{C3}"#.utf8.dropLast()), fin: false)
        try await socket.sendFrame(opcode: 0x0, payload: [0xA9] + Array(#""}"#.utf8), fin: true)
        expectEqual(try await socket.next(type: "pong")?["id"] as? String, "é")
    }

    // MARK: Shutdown

    func testShutdownClosesWebSocketsWith1001AndAnswersWaitingPolls410() async throws {
        let server = try await running()
        let http = TestHTTP(port: server.httpPort)
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        _ = try await socket.next(type: "welcome")
        let (poll, _) = try await openPoll(http)
        async let waiting = http.request("GET", "/v1/poll/\(poll)")
        try await Task.sleep(for: .milliseconds(200))
        async let stopped: Void = server.stop()
        let bye = try await socket.nextJSON(timeout: .seconds(5))
        XCTAssertEqual(bye?["type"] as? String, "bye")
        XCTAssertEqual(bye?["code"] as? Int, 1001)
        let frame = try await socket.next(timeout: .seconds(5))
        XCTAssertEqual(code(frame), 1001)
        let answer = try await waiting
        XCTAssertEqual(answer.status, 410)
        XCTAssertEqual((answer.body as? [String: Any])?["code"] as? Int, 1001)
        try await stopped
    }

    // MARK: Origins and hosts

    func testOriginsAreCheckedAndPreflightsAnswered() async throws {
        let server = try await running { $0.allowedOrigins = ["https://app.example.com"] }
        let port = server.httpPort
        do {
            _ = try await RawWebSocket.connect(port: port, headers: "Origin: http://evil.example\r\n")
            XCTFail("a cross-origin upgrade from an origin not listed must be refused")
        } catch RawWebSocketError.handshakeRefused(let head) {
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 403"), head)
        }
        let allowed = try await RawWebSocket.connect(port: port, headers: "Origin: https://app.example.com\r\n")
        expectNotNil(try await allowed.next(type: "welcome"))
        // The page this server serves itself is same-origin.
        let own = try await RawWebSocket.connect(port: port, headers: "Origin: http://127.0.0.1:\(port)\r\n")
        expectNotNil(try await own.next(type: "welcome"))

        let raw = try await RawWebSocket.openTCP(port: port)
        try await raw.sendRaw("OPTIONS /v1/ice-servers HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example.com\r\n"
                              + "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\r\n")
        let answered = try await raw.nextHTTPResponse()
        let preflight = try XCTUnwrap(answered)
        XCTAssertEqual(preflight.status, 204)
        XCTAssertTrue(preflight.head.lowercased().contains("access-control-allow-origin: https://app.example.com"), preflight.head)
        XCTAssertTrue(preflight.head.lowercased().contains("access-control-allow-headers: authorization"), preflight.head)
        try await raw.sendRaw("GET /v1/ice-servers HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n")
        expectEqual(try await raw.nextHTTPResponse()?.status, 403)
        try await raw.sendRaw("GET /v1/ice-servers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        expectEqual(try await raw.nextHTTPResponse()?.status, 200)
    }

    func testICEServerURLsNeverEchoTheHostHeader() async throws {
        let server = try await running()
        let raw = try await RawWebSocket.openTCP(port: server.httpPort)
        try await raw.sendRaw("GET /v1/ice-servers HTTP/1.1\r\nHost: a:b:c\r\n\r\n")
        let response = try await raw.nextHTTPResponse()
        let body = try XCTUnwrap(response?.body)
        XCTAssertFalse(body.contains("a:b"), body)
        XCTAssertTrue(body.contains("stun:127.0.0.1:"), body)

        let named = try await running { $0.publicHosts = ["turn.example.com", "[2001:db8::1]"] }
        let other = try await RawWebSocket.openTCP(port: named.httpPort)
        try await other.sendRaw("GET /v1/ice-servers HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        let otherResponse = try await other.nextHTTPResponse()
        let listed = try XCTUnwrap(otherResponse?.body)
        let port = named.address("stun udp").port
        XCTAssertTrue(listed.contains("turn:turn.example.com:\(port)?transport=udp"), listed)
        XCTAssertTrue(listed.contains("turn:[2001:db8::1]:\(port)?transport=tcp"), listed)
        XCTAssertFalse(listed.contains("evil"), listed)
        XCTAssertFalse(listed.contains("127.0.0.1"), listed)
    }
}
