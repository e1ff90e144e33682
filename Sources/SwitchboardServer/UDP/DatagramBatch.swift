import NIOCore

/// The datagrams one read burst produces, written back to back into one reused buffer.
///
/// They are handed to NIO as slices of that buffer when the burst ends and flushed together, so NIO sends each
/// socket's share with one `sendmmsg` and no datagram costs an allocation. After the flush NIO has sent them and let
/// go of the slices, so `clear()` finds the storage unshared and reuses it; if a send is still pending (a full socket
/// buffer), `clear()` takes fresh storage and the pending slices keep the old.
struct DatagramBatch {
    /// Where the next datagram is written. Write into it, then `commit` or `discard` from the index it had before.
    var bytes: ByteBuffer
    private var pending: [Pending] = []

    private struct Pending {
        var channel: any Channel
        var destination: SocketAddress
        var start: Int
        var length: Int
    }

    init(capacity: Int) {
        bytes = ByteBufferAllocator().buffer(capacity: capacity)
        pending.reserveCapacity(64)
    }

    var isEmpty: Bool { pending.isEmpty }

    /// The bytes written since `start` are one datagram for `destination`, to leave from `channel`.
    mutating func commit(from start: Int, to destination: SocketAddress, via channel: any Channel) {
        pending.append(Pending(channel: channel, destination: destination, start: start, length: bytes.writerIndex - start))
    }

    /// Forgets whatever was written since `start`.
    mutating func discard(from start: Int) {
        bytes.moveWriterIndex(to: start)
    }

    /// Writes every datagram onto its channel, unflushed; `written` hears each channel once per datagram.
    mutating func write(_ written: (any Channel) -> Void) {
        for datagram in pending {
            let slice = bytes.getSlice(at: datagram.start, length: datagram.length)!
            datagram.channel.write(AddressedEnvelope(remoteAddress: datagram.destination, data: slice), promise: nil)
            written(datagram.channel)
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Call after the channels were flushed.
    mutating func reset() {
        bytes.clear()
    }
}
