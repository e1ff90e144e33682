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
/// installs and removes routes here. The routes from one relay socket send from one duplicate of its descriptor,
/// closed with the last of them: the TURN loop may close the relay at any time, and a descriptor number it closed
/// could already name another socket.
/// What was sent is reported back about once a second and when a route goes, so the allocation's counts stay whole.
///
/// Confined to the connection's event loop; the edge reaches it through `NIOLoopBound`.
final class StreamChannelRoutes {
    private struct Route {
        let key: ChannelRoute.Key
        let relay: TransportAddress
        let descriptor: Int32
        let peer: TransportAddress
        var expiry: UInt64
        var counts = KernelRouteCounts()
    }

    private var routes: [UInt16: Route] = [:]
    /// One descriptor per relay socket, shared by the routes from it, closed with the last of them.
    private var descriptors: [TransportAddress: (descriptor: Int32, routes: Int)] = [:]
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
        // Only ever reached with routes left when the edge stopped without taking them back; nothing of theirs is
        // queued then, as every read ends with a flush.
        for entry in descriptors.values { _ = sb_close(entry.descriptor) }
        reporting?.cancel()
    }

    /// Installs a route, or moves an installed one's expiry. `descriptor` (a duplicate of the relay socket's, now
    /// owned here) comes with the connection's first route from that relay, nil with the others and with updates.
    func install(_ route: ChannelRoute, descriptor: Int32?) {
        eventLoop.preconditionInEventLoop()
        if let descriptor { adopt(descriptor, for: route.relay) }
        if routes[route.key.channel]?.key == route.key {
            routes[route.key.channel]?.expiry = route.expiry.nanoseconds
            return
        }
        guard let shared = descriptors[route.relay], routes[route.key.channel] == nil else { return }
        descriptors[route.relay]?.routes += 1
        routes[route.key.channel] = Route(key: route.key, relay: route.relay, descriptor: shared.descriptor,
                                          peer: route.peer, expiry: route.expiry.nanoseconds)
        if batch == nil { batch = DatagramSendBatch.current }
        if reporting == nil { scheduleReport() }
    }

    private func adopt(_ descriptor: Int32, for relay: TransportAddress) {
        if descriptors[relay] == nil {
            descriptors[relay] = (descriptor, 0)
        } else {
            _ = sb_close(descriptor)
        }
    }

    /// Removes a route and returns what it sent since its last report.
    func remove(_ key: ChannelRoute.Key) -> KernelRouteCounts {
        eventLoop.preconditionInEventLoop()
        guard let route = routes[key.channel], route.key == key else { return KernelRouteCounts() }
        routes[key.channel] = nil
        release(route.relay)
        if routes.isEmpty {
            reporting?.cancel()
            reporting = nil
        }
        return route.counts
    }

    private func release(_ relay: TransportAddress) {
        guard let entry = descriptors[relay] else { return }
        if entry.routes > 1 {
            descriptors[relay]?.routes -= 1
            return
        }
        // Queued datagrams name the descriptor: they leave before it closes.
        batch?.flush()
        descriptors[relay] = nil
        _ = sb_close(entry.descriptor)
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
        for entry in descriptors.values { _ = sb_close(entry.descriptor) }
        descriptors = [:]
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
