import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A hand-rolled WebSocket client over a raw TCP connection, so tests can do what browsers never do on purpose:
/// send binary or oversized frames, vanish without a close frame, or never finish the handshake.
final class RawWebSocket: Sendable {
    enum Frame: Equatable {
        case text(String)
        case close(code: UInt16?, reason: String)
        case other(opcode: UInt8)
    }

    let channel: Channel
    /// Kept here, not looked up in the pipeline: once the server closes, the pipeline drops its handlers, and the
    /// frames that arrived just before the close would be lost with it.
    private let collector: NIOLoopBound<ByteCollector>

    private init(channel: Channel, collector: NIOLoopBound<ByteCollector>) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects and performs the upgrade; throws unless the server answers 101.
    static func connect(port: Int, path: String = "/v1/ws", headers: String = "", tls: Bool = false) async throws -> RawWebSocket {
        let socket = try await openTCP(port: port, tls: tls)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n"
        try await socket.channel.writeAndFlush(ByteBuffer(string: request))
        let parsed = try await socket.next(timeout: .seconds(3)) { buffer -> Parsed? in
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
            return buffer.readString(length: end.upperBound - view.startIndex).map(Parsed.head)
        }
        guard case .head(let head)? = parsed, head.hasPrefix("HTTP/1.1 101") else {
            if case .head(let head)? = parsed { throw RawWebSocketError.handshakeRefused(head) }
            throw RawWebSocketError.handshakeRefused("no answer")
        }
        return socket
    }

    /// A TCP connection to the HTTP port and nothing more (half-open tests).
    /// `tls`: over TLS (WSS, HTTPS), accepting any certificate.
    static func openTCP(port: Int, tls: Bool = false) async throws -> RawWebSocket {
        let context: NIOSSLContext? = try tls ? {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return try NIOSSLContext(configuration: configuration)
        }() : nil
        // The collector is kept from the initializer: a server that answers and closes at once (a refused
        // connection) tears the pipeline down before a later look-up could find it.
        let (channel, collector) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil)) }
                    let collector = ByteCollector()
                    try channel.pipeline.syncOperations.addHandler(collector)
                    return (channel, NIOLoopBound(collector, eventLoop: channel.eventLoop))
                }
            }
        return RawWebSocket(channel: channel, collector: collector)
    }

    func send(_ text: String) async throws { try await sendFrame(opcode: 0x1, payload: Array(text.utf8)) }
    func sendBinary(_ bytes: [UInt8]) async throws { try await sendFrame(opcode: 0x2, payload: bytes) }
    func sendClose(_ code: UInt16) async throws { try await sendFrame(opcode: 0x8, payload: [UInt8(code >> 8), UInt8(code & 0xFF)]) }

    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true) async throws {
        var buffer = ByteBuffer()
        buffer.writeInteger((fin ? 0x80 : 0) | opcode)
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: buffer.writeInteger(UInt8(maskBit | UInt8(payload.count)))
        case ..<65536:
            buffer.writeInteger(UInt8(maskBit | 126))
            buffer.writeInteger(UInt16(payload.count))
        default:
            buffer.writeInteger(UInt8(maskBit | 127))
            buffer.writeInteger(UInt64(payload.count))
        }
        if masked {
            let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
            buffer.writeBytes(mask)
            buffer.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        } else {
            buffer.writeBytes(payload)
        }
        try await channel.writeAndFlush(buffer)
    }

    /// Writes `bytes` as they are (hostile HTTP).
    func sendRaw(_ bytes: String) async throws { try await channel.writeAndFlush(ByteBuffer(string: bytes)) }

    /// One HTTP response (status line, headers, a Content-Length body), or nil on timeout or close before one.
    func nextHTTPResponse(timeout: TimeAmount = .seconds(5)) async throws -> (status: Int, head: String, body: String)? {
        let parsed = try await next(timeout: timeout) { buffer -> Parsed? in
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
            let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            guard view.count >= end.upperBound - view.startIndex + length else { return nil }
            buffer.moveReaderIndex(forwardBy: end.upperBound - view.startIndex)
            let body = buffer.readString(length: length) ?? ""
            return .head(head + "\r\n\r\n" + body)
        }
        guard case .head(let text)? = parsed else { return nil }
        let parts = text.components(separatedBy: "\r\n\r\n")
        let status = Int(parts[0].split(separator: " ")[1]) ?? 0
        return (status, parts[0], parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The next data or close frame (pings are answered and skipped), or nil on timeout or connection end.
    func next(timeout: TimeAmount = .seconds(3)) async throws -> Frame? {
        while true {
            guard case .frame(let opcode, let payload)? = try await next(timeout: timeout, Self.parseFrame) else { return nil }
            switch opcode {
            case 0x1: return .text(String(decoding: payload, as: UTF8.self))
            case 0x8:
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
                return .close(code: code, reason: String(decoding: payload.dropFirst(2), as: UTF8.self))
            case 0x9: try await sendFrame(opcode: 0xA, payload: payload)
            default: return .other(opcode: opcode)
            }
        }
    }

    /// The next JSON text frame as an object; fails the caller's expectations with nil otherwise.
    func nextJSON(timeout: TimeAmount = .seconds(3)) async throws -> [String: Any]? {
        guard case .text(let text)? = try await next(timeout: timeout) else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    /// Frames until one of `type` arrives (skipping others), or nil.
    func next(type: String, timeout: TimeAmount = .seconds(3)) async throws -> [String: Any]? {
        while let frame = try await nextJSON(timeout: timeout) {
            if frame["type"] as? String == type { return frame }
        }
        return nil
    }

    func sendJSON(_ object: [String: Any]) async throws {
        try await send(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    /// Gone without a close frame, as when a network drops.
    func drop() async { try? await channel.close() }

    var isOpen: Bool { channel.isActive }

    private static func parseFrame(_ buffer: inout ByteBuffer) -> Parsed? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
              let second = buffer.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        var offset = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(extended)
            offset = 4
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            length = Int(extended)
            offset = 10
        }
        guard buffer.readableBytes >= offset + length else { return nil }
        buffer.moveReaderIndex(forwardBy: offset)
        let payload = buffer.readBytes(length: length) ?? []
        return .frame(opcode: first & 0x0F, payload: payload)
    }

    private func next(timeout: TimeAmount, _ parse: @escaping @Sendable (inout ByteBuffer) -> Parsed?) async throws -> Parsed? {
        let channel = self.channel
        let collector = self.collector
        return try await channel.eventLoop.flatSubmit {
            collector.value.next(timeout: timeout, on: channel.eventLoop, parse: parse)
        }.get()
    }
}

/// What the collector hands back: the HTTP answer head, or one WebSocket frame.
enum Parsed: Sendable {
    case head(String)
    case frame(opcode: UInt8, payload: [UInt8])
}

enum RawWebSocketError: Error {
    case handshakeRefused(String)
}

/// Event-loop-confined byte accumulator: one waiter, which gets the first value its parser can take.
final class ByteCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var buffer = ByteBuffer()
    private var waiter: (promise: EventLoopPromise<Parsed?>, parse: (inout ByteBuffer) -> Parsed?)?
    private var closed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if let waiter, let value = waiter.parse(&buffer) {
            self.waiter = nil
            waiter.promise.succeed(value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        waiter?.promise.succeed(nil)
        waiter = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {}

    func next(timeout: TimeAmount, on loop: EventLoop, parse: @escaping (inout ByteBuffer) -> Parsed?) -> EventLoopFuture<Parsed?> {
        if let value = parse(&buffer) { return loop.makeSucceededFuture(value) }
        if closed { return loop.makeSucceededFuture(nil) }
        let promise = loop.makePromise(of: Parsed?.self)
        waiter = (promise, parse)
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: timeout) {
            if let waiter = bound.value.waiter, waiter.promise.futureResult === promise.futureResult {
                bound.value.waiter = nil
                waiter.promise.succeed(nil)
            }
        }
        return promise.futureResult
    }
}
