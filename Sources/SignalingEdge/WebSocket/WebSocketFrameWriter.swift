import NIOCore
import NIOWebSocket

/// Writes the hub's text frames onto one WebSocket connection.
///
/// `channel.write` starts at the tail of the pipeline and walks every outbound handler Hummingbird installed; a
/// profile of 10,000 sessions put that walk (mostly retain/release) at several per cent of the signaling loop. From
/// the frame tap's context a frame passes only the frame encoder. Without a tap (its install failed)
/// frames take the channel's way. Used only on the channel's event loop; the hub reaches connections on other loops
/// through an `OutboundHandoff`.
final class WebSocketFrameWriter: @unchecked Sendable {
    let channel: any Channel
    private let tap: WebSocketFrameTap?
    /// Set while an `UnflushedWriters` lists this writer (so it is listed once).
    fileprivate var flushPending = false

    init(channel: any Channel, tap: WebSocketFrameTap?) {
        self.channel = channel
        self.tap = tap
    }

    var isWritable: Bool { channel.isWritable }

    func writeText(_ text: String) {
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
        if let context = tap?.context {
            context.write(NIOAny(frame), promise: nil)
        } else {
            channel.write(frame, promise: nil)
        }
    }

    func flush() {
        if let context = tap?.context {
            context.flush()
        } else {
            channel.flush()
        }
    }
}

/// Writers written to since their last flush, each listed once, so a batch of frames ends with one flush per
/// connection. Used on one event loop: the hub's for its own connections, another loop's inside an `OutboundHandoff`.
struct UnflushedWriters {
    private var writers: [WebSocketFrameWriter] = []

    mutating func write(_ text: String, to writer: WebSocketFrameWriter) {
        writer.writeText(text)
        if !writer.flushPending {
            writer.flushPending = true
            writers.append(writer)
        }
    }

    var isEmpty: Bool { writers.isEmpty }

    /// Moves the list out, so the owner can flush it without holding access to its own copy: a flush may run a
    /// read on the same loop (NIO reads a connection whose write failed), and that read may write again.
    mutating func take() -> UnflushedWriters {
        defer { writers = [] }
        return UnflushedWriters(writers: writers)
    }

    init() {}

    private init(writers: [WebSocketFrameWriter]) { self.writers = writers }

    mutating func flush() {
        guard !writers.isEmpty else { return }
        for writer in writers {
            writer.flushPending = false
            writer.flush()
        }
        writers.removeAll(keepingCapacity: true)
    }
}
