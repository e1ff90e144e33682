// SignalingLoad: many WebSocket sessions against `switchboard serve`, then a steady rate of `signal` frames between
// peers of the same rooms; prints delivered frames/s and delivery latency. A NIO client, so that the generator is
// not what saturates first.
//
//   SignalingLoad PORT SESSIONS ROOM_SIZE RATE SECONDS
//
// Output (one line, key=value): sessions, connect_s, sent, delivered, delivered_per_s, p50_us, p99_us, max_us,
// errors, generator_cpu_s.
import Atomics
import Foundation
import NIOCore
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count == 6, let port = Int(arguments[1]), let sessionCount = Int(arguments[2]),
      let roomSize = Int(arguments[3]), let rate = Double(arguments[4]), let seconds = Double(arguments[5]) else {
    FileHandle.standardError.write(Data("usage: SignalingLoad PORT SESSIONS ROOM_SIZE RATE SECONDS\n".utf8))
    exit(2)
}

func nowMicros() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000 }

/// Shared counters; the latencies of delivered frames are kept per event loop (`LoopLatencies`), so the hot path
/// takes no lock: the generator must cost as little CPU as it can, since it shares the machine with the server.
final class Tally: @unchecked Sendable {
    private let errorCount = ManagedAtomic(0)
    private let joins = ManagedAtomic(0)
    let recording = ManagedAtomic(false)

    func error() { errorCount.wrappingIncrement(ordering: .relaxed) }
    func didJoin() { joins.wrappingIncrement(ordering: .relaxed) }
    var joinedCount: Int { joins.load(ordering: .relaxed) }
    var errors: Int { errorCount.load(ordering: .relaxed) }
}

/// Delivery latencies seen by one event loop's sessions; touched only on that loop until the run ends.
final class LoopLatencies: @unchecked Sendable {
    var values: [UInt32] = []

    init() { values.reserveCapacity(1 << 20) }

    func record(_ micros: UInt64) {
        guard tally.recording.load(ordering: .relaxed) else { return }
        values.append(UInt32(clamping: micros))
    }
}

func percentiles(_ all: [UInt32]) -> (UInt32, UInt32, UInt32) {
    let sorted = all.sorted()
    guard !sorted.isEmpty else { return (0, 0, 0) }
    return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)], sorted.last!)
}

let tally = Tally()

/// One WebSocket session: handshake, welcome, join, then signals to a fixed peer of its room.
final class LoadSession: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let room: String
    let expectedPeers: Int
    private var buffer = ByteBuffer()
    private var upgraded = false
    var sessionID: String?
    var target: String? {
        didSet { signalHead = target.map { Array(#"{"type":"signal","room":"\#(room)","to":"\#($0)","data":{"kind":"candidate","t":"#.utf8) } ?? [] }
    }
    /// The signal's JSON up to its timestamp, made once: a signal is written as bytes, not formatted per frame.
    private var signalHead: [UInt8] = []
    private static let signalTail = Array(#","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}}"#.utf8)
    var context: ChannelHandlerContext?
    private let latencies: LoopLatencies
    private let onReady: (LoadSession) -> Void

    init(room: String, expectedPeers: Int, latencies: LoopLatencies, onReady: @escaping (LoadSession) -> Void) {
        self.room = room
        self.expectedPeers = expectedPeers
        self.latencies = latencies
        self.onReady = onReady
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        let request = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if upgraded, buffer.readableBytes == 0 {
            // The usual case under load: whole frames in one read, parsed where they lie, only a tail kept.
            parseFrames(&bytes)
            if bytes.readableBytes > 0 { buffer.writeBuffer(&bytes) }
            return
        }
        buffer.writeBuffer(&bytes)
        if !upgraded {
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            buffer.moveReaderIndex(to: end.upperBound)
            upgraded = true
        }
        parseFrames(&buffer)
        buffer.discardReadBytes()
    }

    private func parseFrames(_ buffer: inout ByteBuffer) {
        while let (opcode, payload) = Self.nextFrame(&buffer) {
            if opcode == 0x9 { send(opcode: 0xA, payload: payload, flush: true); continue }
            guard opcode == 0x1 else { continue }
            handle(payload)
        }
    }

    private static func nextFrame(_ buffer: inout ByteBuffer) -> (UInt8, ByteBuffer)? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
              let second = buffer.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        var offset = 2, length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(extended); offset = 4
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            length = Int(extended); offset = 10
        }
        guard buffer.readableBytes >= offset + length else { return nil }
        buffer.moveReaderIndex(forwardBy: offset)
        return (first & 0x0F, buffer.readSlice(length: length)!)
    }

    /// The timestamp after `"t":` in a delivered signal, found by a byte scan rather than a JSON parser.
    private static func timestamp(in payload: ByteBuffer) -> UInt64? {
        payload.withUnsafeReadableBytes { raw -> UInt64? in
            let count = raw.count
            var index = 0
            // `"t":` is 0x22 0x74 0x22 0x3A.
            while index + 4 <= count {
                if raw[index] == 0x22, raw[index + 1] == 0x74, raw[index + 2] == 0x22, raw[index + 3] == 0x3A { break }
                index += 1
            }
            guard index + 4 < count else { return nil }
            index += 4
            var value: UInt64 = 0
            while index < count, raw[index] >= 48, raw[index] <= 57 {
                value = value * 10 + UInt64(raw[index] - 48)
                index += 1
            }
            return value
        }
    }

    private func handle(_ payload: ByteBuffer) {
        // Signals are the hot path.
        if let sent = Self.timestamp(in: payload) {
            latencies.record(nowMicros() &- sent)
            return
        }
        let view = payload.readableBytesView
        guard let object = try? JSONSerialization.jsonObject(with: Data(view)) as? [String: Any],
              let type = object["type"] as? String else { return }
        switch type {
        case "welcome":
            sessionID = object["session"] as? String
            sendText(#"{"type":"join","room":"\#(room)"}"#, flush: true)
        case "joined":
            tally.didJoin()
            if let peers = object["peers"] as? [[String: Any]], let last = peers.last?["id"] as? String { target = last }
            onReady(self)
        case "peer-joined":
            if target == nil, let peer = object["peer"] as? [String: Any] { target = peer["id"] as? String }
        case "error":
            tally.error()
        default:
            break
        }
    }

    /// One masked-with-zeros text frame holding a signal stamped with the current time, written straight into the
    /// outgoing buffer (this is the generator's hot path).
    func sendSignal() {
        guard target != nil, let context else { return }
        let stamp = nowMicros()
        var count = 1
        var probe = stamp
        while probe >= 10 { probe /= 10; count += 1 }
        let length = signalHead.count + count + Self.signalTail.count
        var frame = context.channel.allocator.buffer(capacity: length + 8)
        frame.writeInteger(UInt8(0x81))
        if length < 126 {
            frame.writeInteger(UInt8(0x80 | length))
        } else {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(length))
        }
        frame.writeInteger(UInt32(0))  // a zero mask: valid framing, and the payload goes out as it is
        frame.writeBytes(signalHead)
        let digitsAt = frame.writerIndex
        frame.writeRepeatingByte(0, count: count)
        var value = stamp
        for offset in (0..<count).reversed() {
            frame.setInteger(UInt8(48 + value % 10), at: digitsAt + offset)
            value /= 10
        }
        frame.writeBytes(Self.signalTail)
        context.write(wrapOutboundOut(frame), promise: nil)
    }

    func sendText(_ text: String, flush: Bool) { send(opcode: 0x1, payload: ByteBuffer(string: text), flush: flush) }

    func flush() { context?.flush() }

    private func send(opcode: UInt8, payload: ByteBuffer, flush: Bool) {
        guard let context else { return }
        var frame = context.channel.allocator.buffer(capacity: payload.readableBytes + 14)
        frame.writeInteger(0x80 | opcode)
        let count = payload.readableBytes
        if count < 126 {
            frame.writeInteger(UInt8(0x80 | count))
        } else if count < 65536 {
            frame.writeInteger(UInt8(0x80 | 126)); frame.writeInteger(UInt16(count))
        } else {
            frame.writeInteger(UInt8(0x80 | 127)); frame.writeInteger(UInt64(count))
        }
        frame.writeBytes([0, 0, 0, 0])  // a zero mask: valid framing, and the payload goes out as it is
        var payload = payload
        frame.writeBuffer(&payload)
        if flush { context.writeAndFlush(wrapOutboundOut(frame), promise: nil) } else { context.write(wrapOutboundOut(frame), promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        tally.error()
        context.close(promise: nil)
    }
}

let threads = Int(ProcessInfo.processInfo.environment["SIGNALING_LOAD_THREADS"] ?? "2") ?? 2
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let loops = (0..<threads).map { _ in group.next() }
var sessions: [LoadSession] = []
var sessionsPerLoop: [[LoadSession]] = Array(repeating: [], count: threads)
let latenciesPerLoop = (0..<threads).map { _ in LoopLatencies() }
let connectStart = Date()
// Connect in batches so the server's accept backlog is not flooded.
for index in 0..<sessionCount {
    let room = "load-\(index / roomSize)"
    let session = LoadSession(room: room, expectedPeers: roomSize, latencies: latenciesPerLoop[index % threads]) { _ in }
    sessions.append(session)
    sessionsPerLoop[index % threads].append(session)
    let channel = ClientBootstrap(group: loops[index % threads])
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(session) } }
        .connect(host: "127.0.0.1", port: port)
    if index % 200 == 199 {
        _ = try? channel.wait()
        // Joins are sequential per room, so earlier sessions learn their target from peer-joined.
        while tally.joinedCount < index - 400 { usleep(1_000) }
    }
}
let deadline = Date().addingTimeInterval(60)
while tally.joinedCount < sessionCount, Date() < deadline { usleep(10_000) }
let connectSeconds = Date().timeIntervalSince(connectStart)
print("joined \(tally.joinedCount)/\(sessionCount) sessions in \(String(format: "%.1f", connectSeconds)) s", to: &standardError)
if let mark = ProcessInfo.processInfo.environment["SIGNALING_LOAD_READY_FILE"] {
    _ = FileManager.default.createFile(atPath: mark, contents: Data())
    // The driver reads the server's idle memory now.
    Thread.sleep(forTimeInterval: 2)
}

// Steady load: each loop sends its share every millisecond, catching up by the clock when a tick runs late, so the
// offered rate holds as long as the generator keeps up (sent_per_s shows whether it did). Every 5 ms, as before
// 2026-12-04, sent bursts of 125 frames at 25,000/s, and the latency measured was largely the burst's own queue.
final class Pacer: @unchecked Sendable {
    let sessions: [LoadSession]
    let rate: Double
    let start = nowMicros()
    var cursor = 0
    var sent = 0
    init(sessions: [LoadSession], rate: Double) { self.sessions = sessions; self.rate = rate }
    func tick() {
        let due = Int(Double(nowMicros() - start) / 1e6 * rate)
        var touched: [LoadSession] = []
        while sent < due, !sessions.isEmpty {
            let session = sessions[cursor % sessions.count]
            cursor += 1
            guard session.target != nil else { continue }
            session.sendSignal()
            sent += 1
            touched.append(session)
        }
        for session in touched { session.flush() }
    }
}
tally.recording.store(true, ordering: .relaxed)
let loadStart = Date()
let pacers = sessionsPerLoop.map { Pacer(sessions: $0, rate: rate / Double(threads)) }
let tickers = zip(loops, pacers).map { loop, pacer in
    loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in pacer.tick() }
}
Thread.sleep(forTimeInterval: seconds)
for ticker in tickers { ticker.cancel() }
Thread.sleep(forTimeInterval: 0.5)
tally.recording.store(false, ordering: .relaxed)
let elapsed = Date().timeIntervalSince(loadStart) - 0.5
let allLatencies = zip(loops, latenciesPerLoop).flatMap { loop, latencies in try! loop.submit { latencies.values }.wait() }
let delivered = allLatencies.count
let (p50, p99, maxLatency) = percentiles(allLatencies)
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
let sentCount = zip(loops, pacers).map { loop, pacer in try! loop.submit { pacer.sent }.wait() }.reduce(0, +)
print("sessions=\(tally.joinedCount) connect_s=\(String(format: "%.1f", connectSeconds)) sent=\(sentCount) "
      + "sent_per_s=\(Int(Double(sentCount) / elapsed)) delivered=\(delivered) "
      + "delivered_per_s=\(Int(Double(delivered) / elapsed)) p50_us=\(p50) p99_us=\(p99) max_us=\(maxLatency) "
      + "errors=\(tally.errors) generator_cpu_s=\(String(format: "%.2f", cpu))")
exit(0)

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
nonisolated(unsafe) var standardError = StandardError()
