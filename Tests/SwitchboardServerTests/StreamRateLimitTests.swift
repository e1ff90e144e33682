import NIOCore
@testable import RelayEdge
import XCTest

/// The byte budget of a TCP allocation's data connections (`max-bps` on RFC 6062 relays), with time fed in.
final class StreamRateLimitTests: XCTestCase {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func at(_ seconds: Double) -> NIODeadline {
        start + .nanoseconds(Int64(seconds * 1e9))
    }

    func testABurstOfOneSecondsWorthThenTheRestAsTheBudgetRefills() {
        let limit = StreamRateLimit(bytesPerSecond: 1_000, now: start)
        let first = limit.take(upTo: 1_500, .toPeer, now: start)
        XCTAssertEqual(first.taken, 1_000)
        // 500 bytes at 1,000/s: half a second.
        XCTAssertEqual(first.wait, .milliseconds(500))
        let early = limit.take(upTo: 500, .toPeer, now: at(0.2))
        XCTAssertEqual(early.taken, 200)
        XCTAssertEqual(early.wait, .milliseconds(300))
        let due = limit.take(upTo: 300, .toPeer, now: at(0.5))
        XCTAssertEqual(due.taken, 300)
        XCTAssertNil(due.wait)
    }

    func testEachDirectionHasItsOwnBudgetAndBothAreSharedByEveryDataConnection() {
        let limit = StreamRateLimit(bytesPerSecond: 1_000, now: start)
        XCTAssertEqual(limit.take(upTo: 1_000, .toPeer, now: start).taken, 1_000)
        XCTAssertEqual(limit.take(upTo: 1_000, .toClient, now: start).taken, 1_000, "the other way is untouched")
        // A second data connection of the same allocation finds the budget spent.
        let second = limit.take(upTo: 100, .toPeer, now: start)
        XCTAssertEqual(second.taken, 0)
        XCTAssertEqual(second.wait, .milliseconds(100))
    }

    func testAnIdleAllocationSavesNoMoreThanOneSecondsWorth() {
        let limit = StreamRateLimit(bytesPerSecond: 1_000, now: start)
        let later = limit.take(upTo: 5_000, .toClient, now: at(60))
        XCTAssertEqual(later.taken, 1_000)
        // What is left is more than a second's worth: the wait is for one second's worth, then another look.
        XCTAssertEqual(later.wait, .seconds(1))
    }
}
