import NIOConcurrencyHelpers
import NIOCore
import STUN
@testable import EdgeSupport
@testable import RelayEdge
@testable import SignalingEdge
@testable import SwitchboardApp
import XCTest

/// The loop's batched sends on real loopback sockets: datagrams for several sockets and destinations, written in
/// one round, must each arrive whole, once and in order, whether the kernel sent them one by one or as one segmented
/// (UDP GSO) send.
final class DatagramLoopTests: XCTestCase {
    private final class Collector: DatagramReceiver, @unchecked Sendable {
        // Appended on the loop's thread, read after the loop has stopped.
        var datagrams: [(TransportAddress, [UInt8])] = []

        func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on socket: DatagramSocket) {
            datagrams.append((source, Array(bytes.readableBytesView)))
        }
    }

    private struct Sockets: @unchecked Sendable {
        var sender: DatagramSocket
        var first: DatagramSocket
        var second: DatagramSocket
    }

    /// A started loop with a sender and two sockets to send to; what `first` receives goes to `collector`.
    private func startedLoop(collectingFirstInto collector: Collector) async throws -> (DatagramLoop, Sockets) {
        let loop = try DatagramLoop(name: "udp-test")
        loop.start()
        let ignored = Collector()
        let any = TransportAddress(ip: .v4(0x7F00_0001), port: 0)
        let sockets = try await loop.submit {
            Sockets(sender: try loop.openSocket(at: any, receiver: ignored),
                    first: try loop.openSocket(at: any, receiver: collector),
                    second: try loop.openSocket(at: any, receiver: ignored))
        }
        return (loop, sockets)
    }

    /// Waits up to 5 s for `collector` to hold `count` datagrams.
    private func wait(until collector: Collector, holds count: Int, on loop: DatagramLoop) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, try await loop.submit({ collector.datagrams.count }) < count {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func testDatagramsOfOneRoundArriveWholeOnceAndInOrder() async throws {
        let loop = try DatagramLoop(name: "udp-test")
        loop.start()
        let firstCollector = Collector(), secondCollector = Collector(), ignored = Collector()
        let any = TransportAddress(ip: .v4(0x7F00_0001), port: 0)
        let sockets = try await loop.submit {
            Sockets(sender: try loop.openSocket(at: any, receiver: ignored),
                    first: try loop.openSocket(at: any, receiver: firstCollector),
                    second: try loop.openSocket(at: any, receiver: secondCollector))
        }
        // 70 equal datagrams to `first` (more than one segmented send holds), a shorter one, interleaved with some
        // for `second`, then an oversized one that must go alone.
        var expectedFirst: [[UInt8]] = [], expectedSecond: [[UInt8]] = []
        for index in 0..<70 { expectedFirst.append([UInt8](repeating: UInt8(index), count: 100)) }
        expectedFirst.append([UInt8](repeating: 0xAA, count: 40))
        expectedFirst.append([UInt8](repeating: 0xBB, count: 3000))
        for index in 0..<5 { expectedSecond.append([UInt8](repeating: UInt8(200 + index), count: 100)) }
        let first = expectedFirst, second = expectedSecond
        try await loop.submit {
            for (index, bytes) in first.enumerated() {
                loop.send(ByteBuffer(bytes: bytes), to: sockets.first.address, via: sockets.sender)
                if index % 20 == 0, index / 20 < second.count {
                    loop.send(ByteBuffer(bytes: second[index / 20]), to: sockets.second.address, via: sockets.sender)
                }
            }
            for bytes in second.dropFirst(4) {
                loop.send(ByteBuffer(bytes: bytes), to: sockets.second.address, via: sockets.sender)
            }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let counts = try await loop.submit { (firstCollector.datagrams.count, secondCollector.datagrams.count) }
            if counts == (first.count, second.count) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        await loop.stop()
        XCTAssertEqual(firstCollector.datagrams.map(\.1), first)
        XCTAssertEqual(secondCollector.datagrams.map(\.1), second)
        XCTAssertTrue(firstCollector.datagrams.allSatisfy { $0.0 == sockets.sender.address })
        XCTAssertEqual(loop.droppedSends, 0)
    }

    /// A relay port drawn from a range that holds the listener's port must fail to bind (and the core try another),
    /// not share the port and take the listener's datagrams.
    func testARelaySocketCannotBindOnAListenersPort() async throws {
        let loop = try DatagramLoop(name: "udp-test")
        loop.start()
        let receiver = Collector()
        let refused = try await loop.submit {
            let listener = try loop.openSocket(at: TransportAddress(ip: .v4(0x7F00_0001), port: 0), listener: true,
                                               receiver: receiver)
            do {
                _ = try loop.openSocket(at: listener.address, receiver: receiver)
                return false
            } catch let error as DatagramSocketError {
                return error.code == EADDRINUSE
            }
        }
        await loop.stop()
        XCTAssertTrue(refused)
    }

    /// Empty datagrams never form a segmented run (a segment size of 0 would send the run as one datagram).
    func testARunOfEmptyDatagramsArrivesAsThatManyDatagrams() async throws {
        let collector = Collector()
        let (loop, sockets) = try await startedLoop(collectingFirstInto: collector)
        try await loop.submit {
            for _ in 0..<5 { loop.send(ByteBuffer(), to: sockets.first.address, via: sockets.sender) }
        }
        try await wait(until: collector, holds: 5, on: loop)
        await loop.stop()
        XCTAssertEqual(collector.datagrams.map(\.1), [[UInt8]](repeating: [], count: 5))
    }

    /// What is committed for a closed socket is discarded: its descriptor number may already be another socket's.
    func testSendsOnAClosedSocketAreDiscarded() async throws {
        let loop = try DatagramLoop(name: "udp-test")
        loop.start()
        let collector = Collector(), ignored = Collector()
        let any = TransportAddress(ip: .v4(0x7F00_0001), port: 0)
        let (pendingAfterClose, delivered) = try await loop.submit {
            let closed = try loop.openSocket(at: any, receiver: ignored)
            let target = try loop.openSocket(at: any, receiver: collector)
            loop.close(closed)
            // The kernel hands the freed descriptor number to the next socket opened.
            let reused = try loop.openSocket(at: any, receiver: ignored)
            loop.send(ByteBuffer(bytes: [1, 2, 3]), to: target.address, via: closed)
            let written = loop.outgoing.readableBytes
            loop.flush()
            return (written, reused.fd == closed.fd)
        }
        try await Task.sleep(for: .milliseconds(100))
        await loop.stop()
        XCTAssertEqual(pendingAfterClose, 0)
        XCTAssertTrue(collector.datagrams.isEmpty, "sent through \(delivered ? "the reused descriptor" : "a dead one")")
    }

    /// Once stopped, a loop runs nothing more: `submit` throws, `execute` drops its task, a second `stop` returns,
    /// and a socket cannot be opened on it.
    func testAStoppedLoopRefusesWork() async throws {
        let loop = try DatagramLoop(name: "udp-test")
        loop.start()
        await loop.stop()
        await loop.stop()
        do {
            _ = try await loop.submit { 1 }
            XCTFail("submit after stop must throw")
        } catch is DatagramLoopStopped {}
        let ran = NIOLockedValueBox(false)
        loop.execute { ran.withLockedValue { $0 = true } }
        XCTAssertFalse(loop.executeSheddable { ran.withLockedValue { $0 = true } })
        XCTAssertFalse(ran.withLockedValue { $0 })
    }

    /// Datagrams far above a path MTU, up to the largest UDP payload, arrive whole (a TURN client may send them).
    func testLargeDatagramsArriveWhole() async throws {
        let collector = Collector()
        let (loop, sockets) = try await startedLoop(collectingFirstInto: collector)
        let sizes = [9_000, 40_000, 65_507]
        try await loop.submit {
            for size in sizes {
                loop.send(ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0) }), to: sockets.first.address,
                          via: sockets.sender)
            }
        }
        try await wait(until: collector, holds: sizes.count, on: loop)
        await loop.stop()
        XCTAssertEqual(collector.datagrams.map(\.1.count), sizes)
        XCTAssertEqual(collector.datagrams.last?.1, (0..<65_507).map { UInt8(truncatingIfNeeded: $0) })
        XCTAssertEqual(loop.droppedReads, 0)
    }

    /// The loop-confinement check that debug builds run on every socket operation: true on the loop's own thread
    /// only, and a value bound to one loop is not "in loop" on another.
    func testLoopConfinementIsKnownPerThread() async throws {
        let loop = try DatagramLoop(name: "udp-test")
        let other = try DatagramLoop(name: "udp-other")
        loop.start()
        other.start()
        XCTAssertFalse(loop.inLoop, "a test thread is not the loop's thread")
        let onOwn = try await loop.submit { loop.inLoop }
        let onOther = try await other.submit { loop.inLoop }
        XCTAssertTrue(onOwn)
        XCTAssertFalse(onOther)
        let bound = DatagramLoopBound(42, loop: loop)
        let opened = try await loop.submit { bound.value }
        XCTAssertEqual(opened, 42)
        await loop.stop()
        await other.stop()
    }

    /// Records when each datagram reached the loop.
    private final class ArrivalClock: DatagramReceiver, @unchecked Sendable {
        // Appended on the loop's thread, read through `submit`.
        var arrivals: [ContinuousClock.Instant] = []

        func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on socket: DatagramSocket) {
            arrivals.append(.now)
        }
    }

    /// How long after the first of three datagrams (sent 50 ms apart) the loop took up the second, and the third
    /// after the second.
    private func arrivalGaps(wakeUpInterval: Duration) async throws -> (Duration, Duration) {
        let loop = try DatagramLoop(name: "udp-test", wakeUpInterval: wakeUpInterval)
        loop.start()
        let clock = ArrivalClock()
        let socket = try await loop.submit {
            try loop.openSocket(at: TransportAddress(ip: .v4(0x7F00_0001), port: 0), receiver: clock).address
        }
        // Far from the wake-up that opened the socket, so the first datagram finds the loop at rest.
        try await Task.sleep(for: wakeUpInterval * 2 + .milliseconds(100))
        let sender = try await RawUDPSocket()
        for index in 0..<3 {
            if index > 0 { try await Task.sleep(for: .milliseconds(50)) }
            try await sender.send(ByteBuffer(bytes: [UInt8(index)]), to: socket)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        var arrivals: [ContinuousClock.Instant] = []
        while ContinuousClock.now < deadline {
            arrivals = try await loop.submit { clock.arrivals }
            if arrivals.count == 3 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        await sender.close()
        await loop.stop()
        XCTAssertEqual(arrivals.count, 3)
        guard arrivals.count == 3 else { return (.zero, .zero) }
        return (arrivals[1] - arrivals[0], arrivals[2] - arrivals[1])
    }

    func testPacedWakeUpsHoldTrafficThatComesFasterThanTheIntervalAndTakeItUpInOneTurn() async throws {
        let (second, third) = try await arrivalGaps(wakeUpInterval: .milliseconds(500))
        XCTAssertGreaterThanOrEqual(second, .milliseconds(400), "the second datagram came within the interval: it waits")
        XCTAssertLessThan(third, .milliseconds(30), "the third queued meanwhile and is read in the same turn")
    }

    func testWithoutAnIntervalEveryDatagramIsTakenUpAtOnce() async throws {
        let (second, _) = try await arrivalGaps(wakeUpInterval: .zero)
        XCTAssertLessThan(second, .milliseconds(500))
    }
}
