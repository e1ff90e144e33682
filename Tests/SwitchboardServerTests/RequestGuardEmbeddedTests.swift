import EdgeSupport
import NIOCore
import NIOEmbedded
@testable import SignalingEdge
import XCTest

/// The HTTP request guard in an `EmbeddedChannel` with a virtual clock: the request deadline and the connection
/// bounds, without sockets or sleeping.
final class RequestGuardEmbeddedTests: XCTestCase {
    private func guarded(timeout: Double = 10, connections: ConnectionLimiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 10),
                         remote: String = "127.0.0.1") throws -> EmbeddedChannel {
        var limits = HTTPRequestLimits()
        limits.requestTimeout = timeout
        let channel = EmbeddedChannel()
        channel.remoteAddress = try SocketAddress(ipAddress: remote, port: 40000)
        try channel.pipeline.syncOperations.addHandler(
            HTTPRequestGuard(limits: limits, connections: connections, origins: OriginPolicy(allowed: [])))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    private func answer(_ channel: EmbeddedChannel) throws -> String? {
        try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }
    }

    func testASilentConnectionIsClosedUnansweredAtTheDeadline() throws {
        let channel = try guarded(timeout: 10)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        XCTAssertTrue(channel.isActive, "closed before the deadline")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertFalse(channel.isActive)
        XCTAssertNil(try answer(channel), "nobody asked, so nothing is answered")
    }

    func testAPartialHeadGets408AtTheDeadlineHoweverManyBytesTrickleIn() throws {
        let channel = try guarded(timeout: 10)
        for byte in "GET / HTTP/1.1\r\nHo".utf8 {
            try channel.writeInbound(channel.allocator.buffer(bytes: [byte]))
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        }
        // 18 bytes 0.6 s apart: past the deadline, which new bytes do not push back.
        let response = try XCTUnwrap(try answer(channel))
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 408 "), response)
        XCTAssertNil(try channel.readInbound(as: ByteBuffer.self), "nothing of the slow request reaches the framework")
    }

    func testACompleteRequestGoesOnAndStopsTheClockUntilTheNextOne() throws {
        let channel = try guarded(timeout: 10)
        try channel.writeInbound(channel.allocator.buffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) }, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        XCTAssertTrue(channel.isActive, "a keep-alive connection between requests is the framework's to time out")
        XCTAssertNil(try answer(channel))
    }

    func testAnOversizedHeadIs431AndAMalformedOne400() throws {
        let big = try guarded()
        try big.writeInbound(big.allocator.buffer(string: "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 40_000)))
        XCTAssertTrue(try XCTUnwrap(try answer(big)).hasPrefix("HTTP/1.1 431 "))
        let bad = try guarded()
        try bad.writeInbound(bad.allocator.buffer(string: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"))
        XCTAssertTrue(try XCTUnwrap(try answer(bad)).hasPrefix("HTTP/1.1 400 "))
    }

    func testConnectionsOverThePerAddressBoundAre429AndFreeTheirSlotWhenClosed() throws {
        let limiter = ConnectionLimiter(maxTotal: 10, maxPerAddress: 1)
        let first = try guarded(connections: limiter)
        let second = try guarded(connections: limiter)
        second.embeddedEventLoop.run()
        XCTAssertTrue(try XCTUnwrap(try answer(second)).hasPrefix("HTTP/1.1 429 "))
        XCTAssertNil(try answer(first))
        _ = try? first.finish()
        let third = try guarded(connections: limiter)
        third.embeddedEventLoop.run()
        XCTAssertNil(try answer(third), "the first connection's slot was released")
    }
}
