import Foundation
import NIOCore
@testable import Webhooks
import XCTest

final class EndpointQueueTests: XCTestCase {
    func accepted(_ n: Int) -> EndpointQueue.Accepted {
        .init(id: "evt_\(n)", event: WebhookEvent(type: "room.started", timestamp: Date(), fields: ["room": .int(n)]), acceptedAt: Date())
    }

    func stored(_ accepted: EndpointQueue.Accepted, _ sequence: UInt64) -> StoredEvent {
        StoredEvent(sequence: sequence, acceptedAt: accepted.acceptedAt, payload: WebhookPayload(event: accepted.event, id: accepted.id))
    }

    func testAFullQueueDropsAndCountsWhatDoesNotFit() {
        var queue = EndpointQueue(limit: 3, recovered: [])
        XCTAssertEqual(queue.offer(accepted(1)).wakeWriter, true)
        XCTAssertEqual(queue.offer(accepted(2)).wakeWriter, false)
        XCTAssertTrue(queue.offer(accepted(3)).accepted)
        XCTAssertFalse(queue.offer(accepted(4)).accepted)
        XCTAssertEqual(queue.counts.dropped, 1)
        XCTAssertEqual(queue.depth, 3)
        // Events being written, then written, still count against the bound until they are finished.
        let work = queue.takeWork()!
        XCTAssertEqual(work.events.map(\.id), ["evt_1", "evt_2", "evt_3"])
        XCTAssertEqual(queue.depth, 3)
        XCTAssertFalse(queue.offer(accepted(4)).accepted)
        XCTAssertTrue(queue.written(work.events.enumerated().map { stored($1, UInt64($0 + 1)) }))
        XCTAssertFalse(queue.offer(accepted(5)).accepted)
        queue.finishHead(.delivered)
        XCTAssertTrue(queue.offer(accepted(6)).accepted)
        XCTAssertEqual(queue.counts, .init(delivered: 1, failed: 0, rejected: 0, dropped: 3))
    }

    func testFinishingEverythingAsksForOneFinishedRecordThenOneReset() {
        var queue = EndpointQueue(limit: 10, recovered: [])
        _ = queue.offer(accepted(1))
        let work = queue.takeWork()!
        _ = queue.written([stored(work.events[0], 1)])
        XCTAssertNil(queue.takeWork())
        queue.finishHead(.rejected)
        let after = queue.takeWork()!
        XCTAssertEqual(after.finishedThrough, 1)
        XCTAssertTrue(after.everythingFinished)
        XCTAssertNil(queue.takeWork())
        XCTAssertEqual(queue.counts.rejected, 1)
    }

    func testAClosedQueueTakesNothingMore() {
        var queue = EndpointQueue(limit: 10, recovered: [])
        queue.close()
        XCTAssertFalse(queue.offer(accepted(1)).accepted)
        XCTAssertEqual(queue.counts.dropped, 1)
    }
}
