#if canImport(Glibc)
import Glibc
#endif
import CDatagramIO
import EdgeSupport
import NIOConcurrencyHelpers
import NIOCore
import STUN

/// One thread that owns UDP sockets and everything they feed: it waits in `epoll`, reads each ready socket with
/// `recvmmsg` and sends what the burst produced with `sendmmsg`, grouped per socket.
///
/// The STUN/TURN data plane runs here rather than on SwiftNIO's datagram channel because that channel formats every
/// source address as text and boxes it with an envelope per datagram: about 1.1 µs of a 4.5 µs Binding response in
/// `perf`. TCP stays on SwiftNIO; work for this loop from other threads goes through `execute`.
///
/// Reads land in one buffer per loop and reach receivers as slices of it; writes go back to back into one outgoing
/// buffer per loop. Neither costs an allocation per datagram, and a relay socket costs no buffer of its own.
/// Unchecked: other threads only queue tasks (behind a lock, woken by an eventfd); the rest is the loop thread's own.
final class DatagramLoop: @unchecked Sendable {
    let name: String
    private let epoll: Int32
    private let wake: Int32
    private let io: OpaquePointer
    private var sockets: [Int32: DatagramSocket] = [:]
    private let queue = NIOLockedValueBox(TaskQueue())
    private var timers: [RepeatingTimer] = []
    private var nextTimerID = 0
    private var stopping = false
    private var exited = false
    private var onExit: CheckedContinuation<Void, Never>?

    /// Room for the largest UDP payload (65,507 bytes over IPv4): a TURN client may send Send indications or
    /// ChannelData far above a path MTU, and a truncated datagram would be lost. Only the pages a datagram lands on
    /// are touched, so the 2 MiB read buffer costs little resident memory.
    private static let slot = 65_536
    private static let readBatch = 32
    /// Batches per socket per wake-up before other sockets get their turn (epoll is level-triggered).
    private static let readBudget = 4
    private var incoming: ByteBuffer
    private let received: UnsafeMutablePointer<sb_datagram>

    private static let maxOutgoing = 256
    private static let flushBytes = 192 * 1024
    /// Where outgoing datagrams are written: write from `outgoing.writerIndex`, then `commit` or `discard`.
    var outgoing: ByteBuffer
    private let pending: UnsafeMutablePointer<sb_datagram>
    private var pendingCount = 0
    /// Datagrams a full socket buffer refused (UDP drops them, as the network would).
    private(set) var droppedSends = 0

    /// Runs at the end of every turn, before the turn's datagrams go out: the owner hands over output it gathered
    /// for other threads (the TURN edge's writes to TCP and TLS clients). Set once, on the loop.
    var endOfTurn: (() -> Void)?

    private struct TaskQueue {
        var tasks: [@Sendable () -> Void] = []
        var finished = false
    }

    /// Tasks other threads may queue that can be shed (TCP clients' ChannelData, which is UDP-like anyway): past
    /// this many waiting, a client sending faster than the loop drains is dropped from rather than buffered.
    static let sheddableTaskLimit = 16_384
    /// Datagrams read but not handed on: truncated (over `slot` bytes) or from an address family we do not speak.
    private(set) var droppedReads = 0
    /// Sheddable tasks dropped because the queue was full.
    private let shedTasks = NIOLockedValueBox(0)

    private struct RepeatingTimer {
        var id: Int
        var due: UInt64
        var interval: UInt64
        var body: () -> Void
    }

    /// The least time between two wake-ups by traffic once they come faster than that (0: every event wakes the
    /// loop at once). See `paceWakeUps`.
    let wakeUpInterval: UInt64
    private var lastWakeUp: UInt64 = 0
    /// Datagrams read by the turn under way; at the next wake-up, by the turn before it (`paceWakeUps`).
    private var readThisTurn = 0

    init(name: String, wakeUpInterval: Duration = .zero) throws(DatagramSocketError) {
        self.name = name
        self.wakeUpInterval = wakeUpInterval.loopNanoseconds
        let epoll = sb_epoll_create()
        guard epoll >= 0 else { throw DatagramSocketError(operation: "epoll_create", code: -epoll) }
        let wake = sb_eventfd_create()
        guard wake >= 0 else {
            _ = sb_close(epoll)
            throw DatagramSocketError(operation: "eventfd", code: -wake)
        }
        self.epoll = epoll
        self.wake = wake
        guard let io = sb_io_create(64) else {
            _ = sb_close(wake)
            _ = sb_close(epoll)
            throw DatagramSocketError(operation: "allocate I/O vectors", code: ENOMEM)
        }
        self.io = io
        incoming = ByteBufferAllocator().buffer(capacity: Self.slot * Self.readBatch)
        received = .allocate(capacity: Self.readBatch)
        outgoing = ByteBufferAllocator().buffer(capacity: 256 * 1024)
        pending = .allocate(capacity: Self.maxOutgoing)
        let added = sb_epoll_add(epoll, wake)
        guard added == 0 else { throw DatagramSocketError(operation: "epoll_ctl eventfd", code: -added) }
    }

    deinit {
        sb_io_destroy(io)
        received.deallocate()
        pending.deallocate()
        _ = sb_close(wake)
        _ = sb_close(epoll)
    }

    // MARK: Thread

    /// Which loop, if any, the calling thread runs: set by each loop's thread as it starts.
    private static let currentLoopKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the caller runs on this loop's thread.
    var inLoop: Bool { pthread_getspecific(Self.currentLoopKey) == Unmanaged.passUnretained(self).toOpaque() }

    /// Sockets, buffers and timers belong to the loop's thread; debug builds check every use (release builds
    /// skip it: the check sits on the per-packet path).
    @inline(__always)
    func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inLoop, "\(name): used off its thread", file: file, line: line)
    }

    func start() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let loop = Unmanaged<DatagramLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        pthread_detach(thread)
    }

    /// Stops the loop, closing every socket still open, and returns once its thread is done (at once if it was).
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queued = enqueue {
                if self.exited || self.onExit != nil { return continuation.resume() }
                self.stopping = true
                self.onExit = continuation
            }
            if !queued { continuation.resume() }
        }
    }

    /// Runs `task` on the loop's thread. After the loop has stopped the task is dropped: its sockets are closed,
    /// and running it on the caller's thread would race with every other caller (TCP clients on NIO's loops).
    func execute(_ task: @escaping @Sendable () -> Void) {
        _ = enqueue(task)
    }

    /// `execute` for work that may be shed under overload; false when it was (or the loop has stopped).
    @discardableResult
    func executeSheddable(_ task: @escaping @Sendable () -> Void) -> Bool {
        let accepted = enqueue(task, limit: Self.sheddableTaskLimit)
        if !accepted { shedTasks.withLockedValue { $0 &+= 1 } }
        return accepted
    }

    var shedTaskCount: Int { shedTasks.withLockedValue { $0 } }

    private func enqueue(_ task: @escaping @Sendable () -> Void, limit: Int = .max) -> Bool {
        let (accepted, signal) = queue.withLockedValue { queue -> (Bool, Bool) in
            if queue.finished || queue.tasks.count >= limit { return (false, false) }
            queue.tasks.append(task)
            return (true, queue.tasks.count == 1)
        }
        if signal { sb_eventfd_signal(wake) }
        return accepted
    }

    func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let queued = enqueue { continuation.resume(with: Result { try body() }) }
            if !queued { continuation.resume(throwing: DatagramLoopStopped(name: name)) }
        }
    }

    private func run() {
        pthread_setspecific(Self.currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        sb_name_thread(name)
        // The paced sleeps below should end when asked, not up to the default 50 µs later.
        if wakeUpInterval > 0 { sb_set_timer_slack_ns(1_000) }
        var ready = [Int32](repeating: 0, count: 64)
        while !stopping {
            let count = ready.withUnsafeMutableBufferPointer { sb_epoll_wait(epoll, $0.baseAddress, 64, timeoutMilliseconds()) }
            if count > 0 { paceWakeUps() }
            readThisTurn = 0
            for index in 0..<Int(max(count, 0)) {
                let fd = ready[index]
                if fd == wake {
                    sb_eventfd_drain(wake)
                    runTasks()
                } else if let socket = sockets[fd] {
                    read(socket)
                }
            }
            runDueTimers()
            endOfTurn?()
            flush()
        }
        flush()
        for socket in Array(sockets.values) { close(socket) }
        exited = true
        let late = queue.withLockedValue { queue in
            queue.finished = true
            defer { queue.tasks = [] }
            return queue.tasks
        }
        // Queued before the stop was seen: they run here, on the loop's thread, with every socket closed.
        for task in late { task() }
        onExit?.resume()
    }

    /// Interrupt moderation, as a NIC's interrupt throttle does it. At call load each relay socket holds one or two
    /// datagrams when the loop wakes, so a wake-up (the sleep, the scheduler, `epoll_wait`, a `recvmmsg` and a
    /// `sendmmsg` per socket) is paid for about one packet. When wake-ups come closer together than the interval,
    /// the loop sleeps until one interval has passed since the last one before it looks at its sockets: the kernel
    /// queues what arrives meanwhile, and one turn then carries many calls' packets, with longer `sendmmsg` and GSO
    /// runs. Below that rate (wake-ups further apart than twice the interval) nothing waits at all. A packet waits at
    /// most one interval; sockets' buffers hold far more than an interval's traffic. A loop whose last turn read a
    /// full batch's worth of datagrams is busy already (a saturating flow): sleeping would only cap what it relays.
    private func paceWakeUps() {
        guard wakeUpInterval > 0 else { return }
        let now = sb_monotonic_ns()
        let previous = lastWakeUp
        lastWakeUp = now
        guard readThisTurn < Self.readBatch, now &- previous < 2 * wakeUpInterval else { return }
        let due = previous &+ wakeUpInterval
        guard due > now else { return }
        sb_sleep_until_ns(due)
        lastWakeUp = due
    }

    private func runTasks() {
        let tasks = queue.withLockedValue { queue in
            defer { queue.tasks.removeAll(keepingCapacity: true) }
            return queue.tasks
        }
        for task in tasks { task() }
    }

    // MARK: Timers

    /// Calls `body` on this loop every `interval`, until `cancelTimer`.
    @discardableResult
    func scheduleRepeating(every interval: Duration, _ body: @escaping () -> Void) -> Int {
        assertInLoop()
        let nanoseconds = interval.loopNanoseconds
        nextTimerID += 1
        timers.append(RepeatingTimer(id: nextTimerID, due: sb_monotonic_ns() + nanoseconds, interval: nanoseconds, body: body))
        return nextTimerID
    }

    func cancelTimer(_ id: Int) {
        assertInLoop()
        timers.removeAll { $0.id == id }
    }

    private func timeoutMilliseconds() -> Int32 {
        // Once per round: a plain loop, since `map` would allocate an array every time.
        guard var due = timers.first?.due else { return -1 }
        for timer in timers where timer.due < due { due = timer.due }
        let now = sb_monotonic_ns()
        return due <= now ? 0 : Int32(clamping: (due - now + 999_999) / 1_000_000)
    }

    private func runDueTimers() {
        guard !timers.isEmpty else { return }
        let now = sb_monotonic_ns()
        // By id, not index: a body may cancel or add timers.
        for id in timers.lazy.filter({ $0.due <= now }).map(\.id) {
            guard let index = timers.firstIndex(where: { $0.id == id }) else { continue }
            timers[index].due = now + timers[index].interval
            let body = timers[index].body
            body()
        }
    }

    // MARK: Sockets

    /// A UDP socket bound to `address` and read by this loop; call on the loop. A `listener` may share its address
    /// (SO_REUSEADDR, and SO_REUSEPORT with `reusePort`); any other socket owns its port alone.
    func openSocket(at address: TransportAddress, listener: Bool = false, reusePort: Bool = false, bufferBytes: Int = 0,
                    packetInfo: Bool = false, dontFragment: Bool = false,
                    receiver: DatagramReceiver) throws(DatagramSocketError) -> DatagramSocket {
        assertInLoop()
        // Work queued before a stop runs after the sockets were closed; nothing would close a socket opened then.
        guard !exited else { throw DatagramSocketError(operation: "bind \(address)", code: ESHUTDOWN) }
        var port: UInt16 = 0
        let (family, high, low) = address.ip.datagramParts
        let fd = sb_udp_open(family, high, low, address.port, listener ? 1 : 0, reusePort ? 1 : 0, Int32(bufferBytes),
                             packetInfo ? 1 : 0, dontFragment ? 1 : 0, &port)
        guard fd >= 0 else { throw DatagramSocketError(operation: "bind \(address)", code: -fd) }
        let added = sb_epoll_add(epoll, fd)
        guard added == 0 else {
            _ = sb_close(fd)
            throw DatagramSocketError(operation: "epoll_ctl", code: -added)
        }
        let socket = DatagramSocket(fd: fd, address: TransportAddress(ip: address.ip, port: port), loop: self, receiver: receiver)
        sockets[fd] = socket
        return socket
    }

    /// Closes the socket; what it still had to send leaves first, so a reused descriptor never sends it.
    func close(_ socket: DatagramSocket) {
        assertInLoop()
        guard socket.isOpen else { return }
        flush()
        socket.isOpen = false
        sockets[socket.fd] = nil
        _ = sb_epoll_remove(epoll, socket.fd)
        _ = sb_close(socket.fd)
    }

    var socketCount: Int { sockets.count }

    private func read(_ socket: DatagramSocket) {
        // Once per read, not per datagram: loading it from the socket retained it every time.
        let receiver = socket.receiver
        for _ in 0..<Self.readBudget {
            incoming.clear()
            let count = incoming.withUnsafeMutableWritableBytes { raw in
                sb_udp_receive(socket.fd, io, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(Self.slot),
                               UInt32(Self.readBatch), received)
            }
            // An error here is a peer's ICMP report or a socket going away: nothing to do but wait for more.
            guard count > 0 else { return }
            incoming.moveWriterIndex(to: Int(count) * Self.slot)
            for index in 0..<Int(count) {
                let datagram = received[index]
                guard let source = datagram.source else {
                    droppedReads &+= 1
                    continue
                }
                let bytes = incoming.getSlice(at: Int(datagram.offset), length: Int(datagram.length))!
                receiver?.received(bytes, from: source, local: datagram.localIP, on: socket)
                guard socket.isOpen else { return }
            }
            readThisTurn &+= Int(count)
            if count < Self.readBatch { return }
        }
    }

    // MARK: Sending

    /// The bytes written to `outgoing` since `start` are one datagram for `destination`, sent from `socket`.
    func commit(from start: Int, to destination: TransportAddress, via socket: DatagramSocket) {
        assertInLoop()
        // A closed socket's descriptor may already belong to another socket (or a TCP connection) of the process.
        guard socket.isOpen else { return discard(from: start) }
        var datagram = sb_datagram()
        datagram.offset = UInt32(start)
        datagram.length = UInt32(outgoing.writerIndex - start)
        datagram.fd = socket.fd
        datagram.setAddress(destination)
        pending[pendingCount] = datagram
        pendingCount += 1
        if pendingCount == Self.maxOutgoing || outgoing.writerIndex >= Self.flushBytes { flush() }
    }

    /// Forgets what was written to `outgoing` since `start`.
    func discard(from start: Int) {
        assertInLoop()
        outgoing.moveWriterIndex(to: start)
    }

    /// Queues a copy of `bytes` for `destination`, sent from `socket`.
    func send(_ bytes: ByteBuffer, to destination: TransportAddress, via socket: DatagramSocket) {
        assertInLoop()
        let start = outgoing.writerIndex
        outgoing.writeImmutableBuffer(bytes)
        commit(from: start, to: destination, via: socket)
    }

    /// Sends everything queued, one `sendmmsg` per socket; the loop calls it after every round of events.
    func flush() {
        assertInLoop()
        guard pendingCount > 0 else { return }
        let dropped = outgoing.withUnsafeReadableBytes { raw in
            sb_udp_send(io, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), pending, UInt32(pendingCount))
        }
        droppedSends &+= Int(dropped)
        pendingCount = 0
        outgoing.clear()
    }
}

/// A UDP socket owned by a `DatagramLoop`; use it only on that loop.
final class DatagramSocket {
    let fd: Int32
    /// The bound address (the kernel's port when bound to port 0).
    let address: TransportAddress
    unowned let loop: DatagramLoop
    var receiver: DatagramReceiver?
    fileprivate(set) var isOpen = true

    fileprivate init(fd: Int32, address: TransportAddress, loop: DatagramLoop, receiver: DatagramReceiver) {
        self.fd = fd
        self.address = address
        self.loop = loop
        self.receiver = receiver
    }
}

/// Whoever handles a socket's datagrams.
protocol DatagramReceiver: AnyObject {
    /// `bytes` is a slice of the loop's read buffer: keeping it past the call makes the next read take new storage.
    /// `local` is the destination IP when the socket asked for packet info (a wildcard bind).
    func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on socket: DatagramSocket)
}

/// Work handed to a loop after it stopped.
struct DatagramLoopStopped: Error, CustomStringConvertible {
    var name: String
    var description: String { "\(name) has stopped" }
}

struct DatagramSocketError: SystemCallError, CustomStringConvertible {
    var operation: String
    var code: Int32

    var description: String { "\(operation): \(String(cString: strerror(code)))" }
    var errnoCode: Int32 { code }
}

extension Duration {
    /// Whole nanoseconds, as the loop's monotonic clock (`sb_monotonic_ns`) counts them; a negative duration is zero.
    fileprivate var loopNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

extension IPAddress {
    /// Family (4 or 6) and the two halves `sb_datagram` carries.
    var datagramParts: (UInt8, UInt64, UInt64) {
        switch self {
        case .v4(let value): (4, 0, UInt64(value))
        case .v6(let high, let low): (6, high, low)
        }
    }
}

extension sb_datagram {
    var source: TransportAddress? {
        switch family {
        case 4: TransportAddress(ip: .v4(UInt32(truncatingIfNeeded: address_low)), port: port)
        case 6: TransportAddress(ip: .v6(high: address_high, low: address_low), port: port)
        default: nil
        }
    }

    var localIP: IPAddress? {
        switch local_family {
        case 4: .v4(UInt32(truncatingIfNeeded: local_low))
        case 6: .v6(high: local_high, low: local_low)
        default: nil
        }
    }

    mutating func setAddress(_ address: TransportAddress) {
        (family, address_high, address_low) = address.ip.datagramParts
        port = address.port
    }
}
