@testable import Webhooks
import XCTest

final class RetryAndOutcomeTests: XCTestCase {
    func testDelaysDoubleFromOneSecondUpToTheCapWithinTheJitter() {
        let schedule = RetrySchedule(first: .seconds(1), cap: .seconds(60))
        var random = SystemRandomNumberGenerator()
        let nominal: [Double] = [1, 2, 4, 8, 16, 32, 60, 60, 60]
        for (index, expected) in nominal.enumerated() {
            for _ in 0..<50 {
                let delay = schedule.delay(afterFailures: index + 1, using: &random).seconds
                XCTAssertGreaterThanOrEqual(delay, expected * 0.75 - 1e-9, "after \(index + 1) failures")
                XCTAssertLessThanOrEqual(delay, expected * 1.25 + 1e-9, "after \(index + 1) failures")
            }
        }
        XCTAssertLessThanOrEqual(schedule.delay(afterFailures: 10_000, using: &random).seconds, 75)
    }

    func testStatusesSortIntoDeliveredRejectedAndRetry() {
        XCTAssertEqual(AttemptOutcome(status: 200), .delivered(status: 200))
        XCTAssertEqual(AttemptOutcome(status: 204), .delivered(status: 204))
        XCTAssertEqual(AttemptOutcome(status: 400), .rejected(status: 400))
        XCTAssertEqual(AttemptOutcome(status: 404), .rejected(status: 404))
        XCTAssertEqual(AttemptOutcome(status: 301), .rejected(status: 301))
        XCTAssertEqual(AttemptOutcome(status: 307), .rejected(status: 307))
        XCTAssertEqual(AttemptOutcome(status: 408), .retry(reason: "status 408"))
        XCTAssertEqual(AttemptOutcome(status: 429), .retry(reason: "status 429"))
        XCTAssertEqual(AttemptOutcome(status: 500), .retry(reason: "status 500"))
        XCTAssertEqual(AttemptOutcome(status: 503), .retry(reason: "status 503"))
    }
}
