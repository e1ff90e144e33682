import NIOCore
import NIOEmbedded
import XCTest
@testable import RelayEdge

/// `StreamClientOutbox` on `EmbeddedChannel`s: what a turn gathers reaches each connection as one write, in order,
/// and a burst past the bound is refused rather than buffered.
final class StreamClientOutboxTests: XCTestCase {
    private func written(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
        var writes: [[UInt8]] = []
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { writes.append(Array(bytes.readableBytesView)) }
        return writes
    }

    func testOneWritePerConnectionPerTurnInOrder() throws {
        let first = EmbeddedChannel()
        let second = EmbeddedChannel()
        let outbox = StreamClientOutbox()
        outbox.append(to: first, capacity: 2) { $0.writeBytes([1, 2]) }
        outbox.append(to: second, capacity: 1) { $0.writeBytes([9]) }
        outbox.append(to: first, capacity: 3) { $0.writeBytes([3, 4, 5]) }
        XCTAssertEqual(try written(first), [], "nothing leaves before the turn ends")
        XCTAssertFalse(outbox.isEmpty)

        outbox.flush()
        XCTAssertEqual(try written(first), [[1, 2, 3, 4, 5]])
        XCTAssertEqual(try written(second), [[9]])
        XCTAssertTrue(outbox.isEmpty)

        // The next turn starts empty.
        outbox.append(to: second, capacity: 1) { $0.writeBytes([7]) }
        outbox.flush()
        XCTAssertEqual(try written(first), [])
        XCTAssertEqual(try written(second), [[7]])
        _ = try first.finish()
        _ = try second.finish()
    }

    func testABurstPastTheBoundIsRefused() throws {
        let channel = EmbeddedChannel()
        let outbox = StreamClientOutbox()
        let frame = [UInt8](repeating: 0xA5, count: 64 * 1024)
        var accepted = 0
        for _ in 0..<(StreamClientOutbox.batchLimit / frame.count + 3) {
            if outbox.append(to: channel, capacity: frame.count, { $0.writeBytes(frame) }) { accepted += 1 }
        }
        XCTAssertEqual(accepted, StreamClientOutbox.batchLimit / frame.count)
        outbox.flush()
        XCTAssertEqual(try written(channel).map(\.count), [StreamClientOutbox.batchLimit])
        _ = try channel.finish()
    }
}
