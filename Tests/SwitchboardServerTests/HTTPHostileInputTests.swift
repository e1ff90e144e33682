import Foundation
import NIOCore
import XCTest

/// What a hostile HTTP client gets from the signaling port: an answer and a close, never a held descriptor.
final class HTTPHostileInputTests: XCTestCase {
    /// Sends `request` and returns the one response the server gives before it closes the connection.
    private func answer(_ server: RunningServer, _ request: String, timeout: TimeAmount = .seconds(5)) async throws
        -> (status: Int, body: String, closed: Bool)? {
        let socket = try await RawWebSocket.openTCP(port: server.httpPort)
        try await socket.sendRaw(request)
        guard let response = try await socket.nextHTTPResponse(timeout: timeout) else { return nil }
        let closed = await eventually(within: 3) { !socket.isOpen }
        return (response.status, response.body, closed)
    }

    func testMalformedRequestsGet400AndAreClosed() async throws {
        let server = try await running()
        let cases = [
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "POST /v1/poll/session HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        ]
        for request in cases {
            let result = try await answer(server, request)
            XCTAssertEqual(result?.status, 400, request.debugDescription)
            XCTAssertTrue(result?.body.contains(#""error":"bad-request""#) == true, request.debugDescription)
            XCTAssertEqual(result?.closed, true, "closed after \(request.debugDescription)")
        }
    }

    func testOversizedHeadsGet431() async throws {
        let server = try await running()
        let big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 80_000) + "\r\n\r\n"
        let many = "GET /healthz HTTP/1.1\r\nHost: x\r\n" + String(repeating: "a: b\r\n", count: 10_000) + "\r\n"
        for request in [big, many] {
            let result = try await answer(server, request)
            XCTAssertEqual(result?.status, 431)
            XCTAssertEqual(result?.closed, true)
        }
        let body = "POST /v1/poll/session HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
        expectEqual(try await answer(server, body)?.status, 413)
    }

    func testSlowRequestsAreAnswered408WithinTheDeadline() async throws {
        let server = try await running { $0.httpLimits.requestTimeout = 0.5 }
        let partial = ["G", "GET /healthz HT", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n",
                       "POST /v1/poll/session HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"]
        for request in partial {
            let started = Date()
            let result = try await answer(server, request, timeout: .seconds(3))
            XCTAssertEqual(result?.status, 408, request.debugDescription)
            XCTAssertEqual(result?.closed, true)
            XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
        }
        // Trickling bytes does not restart the clock.
        let socket = try await RawWebSocket.openTCP(port: server.httpPort)
        for byte in "GET /healthz HTTP/1.1\r\n" {
            try? await socket.sendRaw(String(byte))
            try await Task.sleep(for: .milliseconds(50))
        }
        let closed = await eventually(within: 3) { !socket.isOpen }
        XCTAssertTrue(closed, "a trickled head must not outlive the request deadline")
    }

    func testWellFormedRequestsStillWorkIncludingKeepAliveAndChunkedBodies() async throws {
        let server = try await running()
        let socket = try await RawWebSocket.openTCP(port: server.httpPort)
        try await socket.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        expectEqual(try await socket.nextHTTPResponse()?.status, 200)
        // A chunked body, split across writes, on the same connection.
        try await socket.sendRaw("POST /v1/poll/session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{")
        try await socket.sendRaw("\r\n1;ext=1\r\n}\r\n0\r\n\r\n")
        let opened = try await socket.nextHTTPResponse()
        XCTAssertEqual(opened?.status, 200)
        XCTAssertTrue(opened?.body.contains(#""poll""#) == true)
        // Two pipelined requests.
        try await socket.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        expectEqual(try await socket.nextHTTPResponse()?.status, 200)
        expectEqual(try await socket.nextHTTPResponse()?.status, 200)
    }

    func testConnectionsAreBoundedPerAddressAndInTotal() async throws {
        let server = try await running {
            $0.maxConnectionsPerIP = 5
            $0.httpMaxConnections = 1_000
        }
        // The server accepts in its own time, so which of six connections is the one refused is not known.
        var held: [RawWebSocket] = []
        for _ in 0..<6 { held.append(try await RawWebSocket.openTCP(port: server.httpPort)) }
        var refusals = 0
        for socket in held {
            if let answer = try await socket.nextHTTPResponse(timeout: .milliseconds(500)) {
                XCTAssertEqual(answer.status, 429)
                refusals += 1
            }
        }
        XCTAssertEqual(refusals, 1, "one connection over the per-address bound must be answered 429")
        for socket in held { await socket.drop() }
        // Closed connections give their places back.
        var freed = false
        for _ in 0..<50 where !freed {
            try await Task.sleep(for: .milliseconds(20))
            let now = try await server.service.inspect()
            freed = now.httpConnections == 0 && now.httpAddresses == 0
        }
        XCTAssertTrue(freed, "the limiter must count closed connections out")
        expectEqual(try await TestHTTP(port: server.httpPort).request("GET", "/healthz").status, 200)

        let small = try await running { $0.httpMaxConnections = 2 }
        var three: [RawWebSocket] = []
        for _ in 0..<3 { three.append(try await RawWebSocket.openTCP(port: small.httpPort)) }
        var statuses: [Int] = []
        for socket in three {
            if let answer = try await socket.nextHTTPResponse(timeout: .milliseconds(500)) { statuses.append(answer.status) }
        }
        XCTAssertEqual(statuses, [503], "one connection over the total bound must be answered 503")
        for socket in three { await socket.drop() }
    }
}
