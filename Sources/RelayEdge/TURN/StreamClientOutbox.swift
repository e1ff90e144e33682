import NIOCore

/// What the TURN edge sends to TCP and TLS clients during one turn of its loop, handed to each connection once, at
/// the turn's end.
///
/// A write from the edge's loop to a SwiftNIO channel is a task on the channel's loop, a wake-up there, and with a
/// flush a TLS record and a `writev`. Relayed media comes in bursts (a read of many datagrams), so one write per
/// connection per turn carries the burst at the cost of one packet, and the frames are written straight into that
/// connection's buffer without an allocation each. Frames keep their order per connection.
final class StreamClientOutbox {
    private struct Batch: Sendable {
        let channel: any Channel
        var bytes: ByteBuffer
    }

    /// A burst past this many bytes for one connection is dropped from (UDP semantics, as for a connection that
    /// stopped draining): the channel's own high-water mark only applies between turns.
    static let batchLimit = 512 * 1024

    private var batches: [Batch] = []
    private var indexByChannel: [ObjectIdentifier: Int] = [:]
    private let allocator = ByteBufferAllocator()

    var isEmpty: Bool { batches.isEmpty }

    /// Lets `write` add one frame of at most `capacity` bytes to `channel`'s batch; false when the batch is full.
    @discardableResult
    func append(to channel: any Channel, capacity: Int, _ write: (inout ByteBuffer) -> Void) -> Bool {
        let key = ObjectIdentifier(channel)
        let index: Int
        if let known = indexByChannel[key] {
            index = known
        } else {
            index = batches.count
            indexByChannel[key] = index
            batches.append(Batch(channel: channel, bytes: allocator.buffer(capacity: max(capacity, 2048))))
        }
        guard batches[index].bytes.readableBytes + capacity <= Self.batchLimit else { return false }
        write(&batches[index].bytes)
        return true
    }

    /// Hands every batch to its connection: one task per SwiftNIO loop, which writes and flushes each of that loop's
    /// connections. A task per connection would cost a wake-up (an `eventfd` write) per connection per turn.
    func flush() {
        guard !batches.isEmpty else { return }
        var groups: [(loop: any EventLoop, batches: [Batch])] = []
        for batch in batches {
            let loop = batch.channel.eventLoop
            if let index = groups.firstIndex(where: { $0.loop === loop }) {
                groups[index].batches.append(batch)
            } else {
                groups.append((loop, [batch]))
            }
        }
        for group in groups {
            let batches = group.batches
            if group.loop.inEventLoop {
                for batch in batches { batch.channel.writeAndFlush(batch.bytes, promise: nil) }
            } else {
                group.loop.execute {
                    for batch in batches { batch.channel.writeAndFlush(batch.bytes, promise: nil) }
                }
            }
        }
        batches.removeAll(keepingCapacity: true)
        indexByChannel.removeAll(keepingCapacity: true)
    }
}
