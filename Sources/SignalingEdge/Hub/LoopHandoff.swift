import NIOCore

/// Text frames read on one connection event loop, handed to the hub's loop together.
///
/// Signaling connections are spread over one event loop per core while the hub's core runs on one of them. A hop per
/// frame would cost a task and often a wake-up each; instead the first frame of a loop tick schedules one hand-over
/// at the end of that tick (NIO runs tasks after the tick's I/O), and every frame read meanwhile rides along. Frames
/// of one connection keep their order: one loop, one queue, one hand-over after another. Used only on `loop`.
final class InboundHandoff: @unchecked Sendable {
    struct Frame {
        var text: String
        var session: String
        var connection: UInt64
    }

    let loop: any EventLoop
    /// Set once by the hub's initializer, before any connection exists.
    weak var hub: SignalingHub?
    private var frames: [Frame] = []

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func add(_ text: String, session: String, connection: UInt64) {
        frames.append(Frame(text: text, session: session, connection: connection))
        if frames.count == 1 { loop.execute { self.handOver() } }
    }

    private func handOver() {
        let batch = frames
        frames = []
        frames.reserveCapacity(batch.count)
        guard let hub else { return }
        hub.loop.execute { hub.assumeIsolated { $0.receive(batch) } }
    }
}

/// Frames the hub wrote during one batch for connections on another event loop, written there in one task.
///
/// Only the hub's loop adds to it; `flush` hands the batch to the connections' loop, which writes every frame and
/// then flushes each connection once.
final class OutboundHandoff: @unchecked Sendable {
    let loop: any EventLoop
    private var frames: [(WebSocketFrameWriter, String)] = []

    init(loop: any EventLoop) {
        self.loop = loop
    }

    var isEmpty: Bool { frames.isEmpty }

    func add(_ text: String, for writer: WebSocketFrameWriter) {
        frames.append((writer, text))
    }

    func flush() {
        guard !frames.isEmpty else { return }
        let batch = frames
        frames = []
        loop.execute {
            var written = UnflushedWriters()
            for (writer, text) in batch { written.write(text, to: writer) }
            written.flush()
        }
    }
}
