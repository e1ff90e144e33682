import NIOCore
import STUN
@testable import SwitchboardServer
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
}
