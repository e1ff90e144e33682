#if canImport(Glibc)
import Glibc
#endif
import CDatagramIO
import NIOCore
import NIOPosix
import STUN
import TURN

/// A TCP or TLS client's routed channels, kept on the connection's own SwiftNIO loop: ChannelData on a routed channel
/// goes from here straight to the peer, rather than as a task to the TURN loop, a wake-up there and a send from it.
///
/// The core decides which channels are routed and until when (`TURNAction.routeChannel`, the routes the kernel fast
/// path takes for UDP clients), so permissions, their expiry and the peer deny list hold as in the core; the edge
/// installs and removes routes here. Each route sends from its own duplicate of the relay socket's descriptor: the
/// TURN loop may close the relay at any time, and a descriptor number it closed could already name another socket.
/// What was sent is reported back about once a second and when a route goes, so the allocation's counts stay whole.
///
/// Confined to the connection's event loop; the edge reaches it through `NIOLoopBound`.
final class StreamChannelRoutes {
    private struct Route {
        let key: ChannelRoute.Key
        let descriptor: Int32
        let peer: TransportAddress
        var expiry: UInt64
        var counts = KernelRouteCounts()
    }

    private var routes: [UInt16: Route] = [:]
    private let clock: any TURNClock
    /// The thread's send batch, found with the first route.
    private var batch: DatagramSendBatch?
    private var reporting: Scheduled<Void>?
    let eventLoop: any EventLoop
    /// Where counts go, on the edge's loop.
    private let report: @Sendable ([(ChannelRoute.Key, KernelRouteCounts)]) -> Void

    init(eventLoop: any EventLoop, clock: any TURNClock,
         report: @escaping @Sendable ([(ChannelRoute.Key, KernelRouteCounts)]) -> Void) {
        self.eventLoop = eventLoop
        self.clock = clock
        self.report = report
    }

    deinit {
        for route in routes.values { _ = sb_close(route.descriptor) }
        reporting?.cancel()
    }

    var isEmpty: Bool { routes.isEmpty }

    /// Installs or updates a route; `descriptor` (a duplicate, now owned here) is closed when it is not needed.
    func install(_ route: ChannelRoute, descriptor: Int32) {
        eventLoop.preconditionInEventLoop()
        let expiry = route.expiry.nanoseconds
        if var known = routes[route.key.channel], known.peer == route.peer, known.key == route.key {
            known.expiry = expiry
            routes[route.key.channel] = known
            _ = sb_close(descriptor)
            return
        }
        if let replaced = routes.removeValue(forKey: route.key.channel) {
            batch?.flush()
            _ = sb_close(replaced.descriptor)
            if !replaced.counts.isZero { report([(replaced.key, replaced.counts)]) }
        }
        routes[route.key.channel] = Route(key: route.key, descriptor: descriptor, peer: route.peer, expiry: expiry)
        if batch == nil { batch = DatagramSendBatch.current }
        if reporting == nil { scheduleReport() }
    }

    /// Removes a route and returns what it sent since its last report.
    func remove(_ key: ChannelRoute.Key) -> KernelRouteCounts {
        eventLoop.preconditionInEventLoop()
        guard let route = routes[key.channel], route.key == key else { return KernelRouteCounts() }
        // Queued datagrams name the descriptor: they leave before it closes.
        batch?.flush()
        routes[key.channel] = nil
        _ = sb_close(route.descriptor)
        if routes.isEmpty {
            reporting?.cancel()
            reporting = nil
        }
        return route.counts
    }

    /// Queues ChannelData for its peer when its channel is routed and the route has not expired; false leaves the
    /// message to the core (unbound, expired, or not ChannelData the core would relay).
    func send(_ message: ByteBuffer) -> Bool {
        guard !routes.isEmpty, let batch, case .success(let (number, data)) = ChannelData.parse(message),
              data.readableBytes > 0, let index = routes.index(forKey: number) else { return false }
        let route = routes.values[index]
        guard clock.now().nanoseconds < route.expiry else { return false }
        batch.append(data, to: route.peer, from: route.descriptor)
        routes.values[index].counts.packetsToPeer += 1
        routes.values[index].counts.bytesToPeer += data.readableBytes
        return true
    }

    /// Sends what `send` queued (the end of a read).
    func flush() {
        batch?.flush()
    }

    /// Drops every route (the edge stopping), reporting what they sent.
    func removeAll() {
        eventLoop.preconditionInEventLoop()
        batch?.flush()
        let counts = routes.values.filter { !$0.counts.isZero }.map { ($0.key, $0.counts) }
        for route in routes.values { _ = sb_close(route.descriptor) }
        routes = [:]
        reporting?.cancel()
        reporting = nil
        if !counts.isEmpty { report(counts) }
    }

    private func scheduleReport() {
        reporting = eventLoop.scheduleTask(in: .seconds(1)) { [self] in
            reporting = nil
            var counts: [(ChannelRoute.Key, KernelRouteCounts)] = []
            for index in routes.indices where !routes.values[index].counts.isZero {
                counts.append((routes.values[index].key, routes.values[index].counts))
                routes.values[index].counts = KernelRouteCounts()
            }
            if !counts.isEmpty { report(counts) }
            if !routes.isEmpty { scheduleReport() }
        }
    }
}

/// Datagrams a SwiftNIO thread sends to peers for its connections' routes, queued over one read and sent together:
/// one `sendmmsg` per relay socket, as on the TURN loop. One per thread, so a routed connection costs no buffers of
/// its own; bounded, as a queue past its room is sent at once. Unchecked: only the thread that made one uses it.
final class DatagramSendBatch: @unchecked Sendable {
    private static let perThread = ThreadSpecificVariable<DatagramSendBatch>()
    private static let capacity = 64
    private static let flushBytes = 64 * 1024

    /// This thread's batch; nil only when the syscall scratch could not be allocated.
    static var current: DatagramSendBatch? {
        if let batch = perThread.currentValue { return batch }
        guard let batch = DatagramSendBatch() else { return nil }
        perThread.currentValue = batch
        return batch
    }

    private let io: OpaquePointer
    private let pending: UnsafeMutablePointer<sb_datagram>
    private var count = 0
    private var outgoing = ByteBufferAllocator().buffer(capacity: DatagramSendBatch.flushBytes + 2048)

    private init?() {
        guard let io = sb_io_create(UInt32(Self.capacity)) else { return nil }
        self.io = io
        pending = .allocate(capacity: Self.capacity)
    }

    deinit {
        sb_io_destroy(io)
        pending.deallocate()
    }

    func append(_ data: ByteBuffer, to peer: TransportAddress, from descriptor: Int32) {
        if count == Self.capacity { flush() }
        var datagram = sb_datagram()
        datagram.offset = UInt32(outgoing.writerIndex)
        datagram.length = UInt32(data.readableBytes)
        datagram.fd = descriptor
        datagram.setAddress(peer)
        outgoing.writeImmutableBuffer(data)
        pending[count] = datagram
        count += 1
        if outgoing.writerIndex >= Self.flushBytes { flush() }
    }

    func flush() {
        guard count > 0 else { return }
        _ = outgoing.withUnsafeReadableBytes { raw in
            sb_udp_send(io, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), pending, UInt32(count))
        }
        count = 0
        outgoing.clear()
    }
}
