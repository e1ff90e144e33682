import NIOCore
import Signaling

/// What a WebSocket connection tells the hub: a text frame, the end of the connection, or a protocol violation.
enum ConnectionEvent {
    case text(String, session: String, connection: UInt64)
    /// `clean`: the client closed with 1000 or 1001, which ends the session; otherwise it stays resumable.
    case ended(session: String, connection: UInt64, clean: Bool)
    case violated(session: String, connection: UInt64, reason: SignalingCloseReason)
}

/// Connection events from one event loop, handed to the hub's loop together.
///
/// Signaling connections are spread over one event loop per core while the hub's core runs on one of them. A hop per
/// frame would cost a task and often a wake-up each; instead the first event of a loop tick schedules one hand-over
/// at the end of that tick (NIO runs tasks after the tick's I/O), and every event meanwhile rides along. A
/// connection's events keep their order, its end included: one loop, one queue, one hand-over after another.
final class InboundHandoff: @unchecked Sendable {
    // @unchecked: `events` is touched only on `loop`; the batch travels to the hub's loop by value.
    let loop: any EventLoop
    /// Set once by the hub's initializer, before any connection exists.
    weak var hub: SignalingHub?
    private var events: [ConnectionEvent] = []

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func add(_ event: ConnectionEvent) {
        loop.assertInEventLoop()
        events.append(event)
        if events.count == 1 { loop.execute { self.handOver() } }
    }

    private func handOver() {
        let batch = events
        events = []
        events.reserveCapacity(batch.count)
        guard let hub else { return }
        hub.loop.execute { hub.assumeIsolated { $0.receive(batch) } }
    }
}

/// What the hub decided during one batch of actions for the connections of one event loop, delivered there
/// together: each connection gets its frames and close in order, and is flushed once at the end.
///
/// The hub fills it on its own loop. `flush` delivers at once for connections on the hub's loop, and in one task
/// on their loop for the others.
final class LoopOutbox: @unchecked Sendable {
    // @unchecked: `entries` is touched only on the hub's loop; the batch travels to `loop` by value.
    enum Delivery {
        case text(String)
        case close(SignalingCloseReason)
    }

    let loop: any EventLoop
    private let isHubLoop: Bool
    private var entries: [(WebSocketConnection, Delivery)] = []

    init(loop: any EventLoop, hubLoop: any EventLoop) {
        self.loop = loop
        isHubLoop = loop === hubLoop
    }

    var isEmpty: Bool { entries.isEmpty }

    func add(_ delivery: Delivery, for connection: WebSocketConnection) {
        entries.append((connection, delivery))
    }

    /// The list is moved out before delivery: on the hub's loop a flush may run a read (NIO reads a connection
    /// whose write failed), and the frames that read produces land in a fresh list, flushed in the next round.
    func flush() {
        guard !entries.isEmpty else { return }
        let batch = entries
        entries = []
        if isHubLoop {
            Self.deliver(batch)
        } else {
            loop.execute { Self.deliver(batch) }
        }
    }

    private static func deliver(_ batch: [(WebSocketConnection, Delivery)]) {
        var written: [WebSocketConnection] = []
        for (connection, delivery) in batch where connection.deliver(delivery) {
            written.append(connection)
        }
        for connection in written { connection.flushDelivered() }
    }
}
