#if canImport(Glibc)
import Glibc
#endif
import CDatagramIO
import NIOCore
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

    private static let batch = 32

    private var routes: [UInt16: Route] = [:]
    private let clock: any TURNClock
    // The send batch, made with the first route and freed with the last.
    private var io: OpaquePointer?
    private var pending: UnsafeMutablePointer<sb_datagram>?
    private var pendingCount = 0
    private var outgoing = ByteBuffer()
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
        if let io { sb_io_destroy(io) }
        pending?.deallocate()
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
            flush()
            _ = sb_close(replaced.descriptor)
            if !replaced.counts.isZero { report([(replaced.key, replaced.counts)]) }
        }
        routes[route.key.channel] = Route(key: route.key, descriptor: descriptor, peer: route.peer, expiry: expiry)
        if io == nil {
            io = sb_io_create(UInt32(Self.batch))
            pending = .allocate(capacity: Self.batch)
            outgoing = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        }
        if reporting == nil { scheduleReport() }
    }

    /// Removes a route and returns what it sent since its last report.
    func remove(_ key: ChannelRoute.Key) -> KernelRouteCounts {
        eventLoop.preconditionInEventLoop()
        guard let route = routes[key.channel], route.key == key else { return KernelRouteCounts() }
        flush()
        routes[key.channel] = nil
        _ = sb_close(route.descriptor)
        if routes.isEmpty { release() }
        return route.counts
    }

    /// Queues ChannelData for its peer when its channel is routed and the route has not expired; false leaves the
    /// message to the core (unbound, expired, or not ChannelData the core would relay).
    func send(_ message: ByteBuffer) -> Bool {
        guard !routes.isEmpty, case .success(let (number, data)) = ChannelData.parse(message),
              var route = routes[number], clock.now().nanoseconds < route.expiry, let pending, data.readableBytes > 0 else {
            return false
        }
        if pendingCount == Self.batch { flush() }
        let start = outgoing.writerIndex
        outgoing.writeImmutableBuffer(data)
        var datagram = sb_datagram()
        datagram.offset = UInt32(start)
        datagram.length = UInt32(data.readableBytes)
        datagram.fd = route.descriptor
        datagram.setAddress(route.peer)
        pending[pendingCount] = datagram
        pendingCount += 1
        route.counts.packetsToPeer += 1
        route.counts.bytesToPeer += data.readableBytes
        routes[number] = route
        return true
    }

    /// Sends what `send` queued: one `sendmmsg` per relay socket, as on the TURN loop.
    func flush() {
        guard pendingCount > 0, let io, let pending else { return }
        _ = outgoing.withUnsafeReadableBytes { raw in
            sb_udp_send(io, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), pending, UInt32(pendingCount))
        }
        pendingCount = 0
        outgoing.clear()
    }

    /// Drops every route (the connection's end, or the edge stopping), reporting what they sent.
    func removeAll() {
        eventLoop.preconditionInEventLoop()
        flush()
        let counts = routes.values.filter { !$0.counts.isZero }.map { ($0.key, $0.counts) }
        for route in routes.values { _ = sb_close(route.descriptor) }
        routes = [:]
        release()
        if !counts.isEmpty { report(counts) }
    }

    private func release() {
        reporting?.cancel()
        reporting = nil
        if let io { sb_io_destroy(io) }
        io = nil
        pending?.deallocate()
        pending = nil
        outgoing = ByteBuffer()
    }

    private func scheduleReport() {
        reporting = eventLoop.scheduleTask(in: .seconds(1)) { [self] in
            reporting = nil
            var counts: [(ChannelRoute.Key, KernelRouteCounts)] = []
            for (number, route) in routes where !route.counts.isZero {
                counts.append((route.key, route.counts))
                routes[number]?.counts = KernelRouteCounts()
            }
            if !counts.isEmpty { report(counts) }
            if !routes.isEmpty { scheduleReport() }
        }
    }
}
