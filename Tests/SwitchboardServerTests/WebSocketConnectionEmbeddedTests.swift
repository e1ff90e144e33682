import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Signaling
@testable import SignalingEdge
import XCTest

/// The WebSocket edge (`WebSocketConnection`) in an `EmbeddedChannel`, fed decoded frames: the auth wait, RFC 6455
/// rules and close codes, on a virtual clock. Attached sessions need the hub's loop to be a real one (it is an
/// actor's executor), so they are covered over real sockets in `SignalingWebSocketTests`.
final class WebSocketConnectionEmbeddedTests: XCTestCase {
    private static let secret = String(repeating: "k", count: 32)

    /// A connection on its own embedded loop; the hub lives on that loop too.
    private func connection(uri: String = "/v1/ws", verifier: SignalingTokenVerifier,
                            limits: SignalingLimits = SignalingLimits()) throws -> EmbeddedChannel {
        let loop = EmbeddedEventLoop()
        let hub = SignalingHub(limits: SignalingLimits(), iceServers: { _, _, _ in .array([]) }, loop: loop,
                               logger: Logger(label: "test"))
        let channel = EmbeddedChannel(loop: loop)
        let handler = WebSocketConnection(channel: channel, hub: hub, verifier: verifier, limits: limits,
                                          request: WebSocketUpgradeRequest(uri: uri, host: "127.0.0.1"))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    /// A client frame: masked, as RFC 6455 §5.3 requires of clients.
    private func masked(_ bytes: [UInt8], fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode) -> WebSocketFrame {
        let key = WebSocketMaskingKey.random()
        var data = ByteBuffer(bytes: bytes)
        data.webSocketMask(key)
        return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, data: data)
    }

    private func text(_ string: String, fin: Bool = true, opcode: WebSocketOpcode = .text) -> WebSocketFrame {
        masked(Array(string.utf8), fin: fin, opcode: opcode)
    }

    /// The next frame the connection wrote: it writes whole frames as bytes (no encoder), unmasked, FIN set.
    private func serverFrame(_ channel: EmbeddedChannel) throws -> WebSocketFrame? {
        guard var bytes = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        let first = try XCTUnwrap(bytes.readInteger(as: UInt8.self))
        let second = try XCTUnwrap(bytes.readInteger(as: UInt8.self))
        XCTAssertEqual(first & 0xF0, 0x80, "FIN set, no reserved bits")
        XCTAssertEqual(second & 0x80, 0, "server frames are not masked")
        var length = Int(second & 0x7F)
        if length == 126 { length = Int(try XCTUnwrap(bytes.readInteger(as: UInt16.self))) }
        if length == 127 { length = Int(try XCTUnwrap(bytes.readInteger(as: UInt64.self))) }
        XCTAssertEqual(bytes.readableBytes, length, "one frame per write, nothing after it")
        let opcode = try XCTUnwrap(WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F))
        return WebSocketFrame(fin: true, opcode: opcode, data: bytes)
    }

    func testServerFramesAreFramedWholeAtEveryLengthClass() {
        let allocator = ByteBufferAllocator()
        for (count, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let text = String(repeating: "a", count: count)
            var bytes = ServerFrameBytes.text(text, allocator: allocator)
            XCTAssertEqual(bytes.readableBytes, header + count, "\(count)")
            XCTAssertEqual(bytes.readInteger(as: UInt8.self), 0x81)
            bytes.moveReaderIndex(forwardBy: header - 1)
            XCTAssertEqual(bytes.readString(length: bytes.readableBytes), text)
        }
    }

    private func closeCode(_ frame: WebSocketFrame?) -> UInt16? {
        guard let frame, frame.opcode == .connectionClose else { return nil }
        var data = frame.unmaskedData
        return data.readInteger(as: UInt16.self)
    }

    func testWithoutATokenTheFirstFrameMustBeAuthWithinTheWait() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        let channel = try connection(verifier: verifier)
        channel.embeddedEventLoop.advanceTime(by: WebSocketConnection.authWait - .seconds(1))
        XCTAssertNil(try serverFrame(channel))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        XCTAssertEqual(closeCode(try serverFrame(channel)), 4000)
        XCTAssertTrue(channel.isActive, "the client gets the close timeout to answer")
        channel.embeddedEventLoop.advanceTime(by: WebSocketConnection.closeTimeout)
        XCTAssertFalse(channel.isActive, "a client that never answers our close is cut off")
    }

    func testAFirstFrameOtherThanAuthIsClosed4000() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        let channel = try connection(verifier: verifier)
        try channel.writeInbound(text(#"{"type":"join","room":"r"}"#))
        XCTAssertEqual(closeCode(try serverFrame(channel)), 4000)
    }

    func testPingsAreAnsweredWithTheirPayloadEvenBeforeAuth() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        let channel = try connection(verifier: verifier)
        try channel.writeInbound(text("hi", opcode: .ping))
        let pong = try XCTUnwrap(try serverFrame(channel))
        XCTAssertEqual(pong.opcode, .pong)
        XCTAssertEqual(String(buffer: pong.unmaskedData), "hi")
    }

    func testPingsFromAClientThatReadsNothingOweOnePongNotAQueue() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        let channel = try connection(verifier: verifier)
        channel.isWritable = false
        for n in 0..<1_000 { try channel.writeInbound(text("ping \(n)", opcode: .ping)) }
        XCTAssertNil(try serverFrame(channel), "nothing is queued for a client that is not reading")

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let pong = try XCTUnwrap(try serverFrame(channel))
        XCTAssertEqual(pong.opcode, .pong)
        XCTAssertEqual(String(buffer: pong.unmaskedData), "ping 999", "the latest ping is answered (RFC 6455 §5.5.3)")
        XCTAssertNil(try serverFrame(channel), "and only that one")
    }

    func testAHeartbeatWaitsForAClientThatIsNotReadingForOnePeriodAndNoLonger() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        var limits = SignalingLimits()
        limits.heartbeat = 2  // beats before the auth wait ends
        let channel = try connection(verifier: verifier, limits: limits)
        channel.isWritable = false
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        XCTAssertNil(try serverFrame(channel), "no ping queued for a client that is not reading")
        XCTAssertTrue(channel.isActive)

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(try serverFrame(channel)?.opcode, .ping, "the owed ping goes out once it reads again")
        try channel.writeInbound(masked([], opcode: .pong))

        channel.isWritable = false
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        XCTAssertTrue(channel.isActive, "one beat while not reading is not yet the end")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        XCTAssertFalse(channel.isActive, "a whole period without reading is")
    }

    /// Closes whose write never completes (the client reads nothing) still end with the socket.
    func testClosesToAClientThatReadsNothingAreCutOffAfterTheTimeout() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        for ending in ["client close", "violation"] {
            let channel = try connection(verifier: verifier)
            try channel.pipeline.syncOperations.addHandler(WritesNeverComplete(), position: .first)
            switch ending {
            case "client close": try channel.writeInbound(masked([0x03, 0xE8], opcode: .connectionClose))
            default: try channel.writeInbound(masked([1], opcode: .binary))
            }
            XCTAssertTrue(channel.isActive, ending)
            channel.embeddedEventLoop.advanceTime(by: WebSocketConnection.closeTimeout)
            XCTAssertFalse(channel.isActive, "\(ending): cut off after the close timeout")
        }
    }

    func testRFC6455ViolationsCloseWithTheirCodes() async throws {
        let verifier = try await SignalingTokenVerifier(secret: Self.secret, publicKeyPEM: nil)
        let cases: [(String, [WebSocketFrame], UInt16)] = [
            ("unmasked client frame", [WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "{}"))], 1002),
            ("continuation without a start", [text("x", opcode: .continuation)], 1002),
            ("a new message inside a fragmented one", [text("{", fin: false), text("}")], 1002),
            ("binary frame", [masked([1], opcode: .binary)], 1003),
            ("invalid UTF-8", [masked([0xC3, 0x28], opcode: .text)], 1007),
            ("invalid UTF-8 across fragments", [masked([0x7B, 0xC3], fin: false, opcode: .text), masked([0x28], opcode: .continuation)], 1007),
            ("reserved bit", [masked(Array("{}".utf8), rsv1: true, opcode: .text)], 1002),
        ]
        for (name, frames, expected) in cases {
            let channel = try connection(verifier: verifier)
            for frame in frames { try channel.writeInbound(frame) }
            XCTAssertEqual(closeCode(try serverFrame(channel)), expected, name)
            channel.embeddedEventLoop.run()
            XCTAssertFalse(channel.isActive, "\(name): a violation closes the socket at once")
        }
    }

    func testAResumeWithoutLastIsRefused4003AtOnce() async throws {
        let verifier = try await SignalingTokenVerifier(secret: nil, publicKeyPEM: nil)
        let channel = try connection(uri: "/v1/ws?resume=abc", verifier: verifier)
        XCTAssertEqual(closeCode(try serverFrame(channel)), 4003)
    }
}

/// Holds every write, as the socket of a client that reads nothing does once its buffers are full.
private final class WritesNeverComplete: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    private var held: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let promise { held.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {}

    func handlerRemoved(context: ChannelHandlerContext) {
        for promise in held { promise.fail(ChannelError.ioOnClosedChannel) }
        held = []
    }
}
