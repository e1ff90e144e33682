import STUN
@testable import TURN
import XCTest

/// Cores of one server (one per event loop) share quotas through an `AllocationLedger`.
final class SharedQuotaTests: XCTestCase {
    func testPerUserQuotaHoldsAcrossCores() {
        let ledger = AllocationLedger(maxTotal: 100, maxPerUser: 2)
        let coreA = TURNHarness(ledger: ledger)
        let coreB = TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 }
        let first = coreA.client("127.0.0.1:1")
        XCTAssertSuccess(first.allocate())
        XCTAssertSuccess(coreB.client("127.0.0.1:2").allocate())
        XCTAssertError(coreA.client("127.0.0.1:3").allocate(), 486)
        XCTAssertError(coreB.client("127.0.0.1:4").allocate(), 486)
        XCTAssertSuccess(coreB.client("127.0.0.1:5", username: "bob", password: "bob-password").allocate())

        XCTAssertSuccess(first.refresh(0))
        XCTAssertSuccess(coreB.client("127.0.0.1:6").allocate())
        XCTAssertEqual(ledger.total, 3)
    }

    func testTotalQuotaHoldsAcrossCoresAndRefusalsGiveTheReservationBack() {
        let ledger = AllocationLedger(maxTotal: 2, maxPerUser: 100)
        let coreA = TURNHarness(ledger: ledger)
        let coreB = TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 }
        XCTAssertSuccess(coreA.client("127.0.0.1:1").allocate())
        // Refused after the quota check (unknown reservation token): the count must not leak.
        XCTAssertError(coreB.client("127.0.0.1:2").allocate([.reservationToken(0xDEAD)]), 508)
        XCTAssertEqual(ledger.total, 1)
        XCTAssertSuccess(coreB.client("127.0.0.1:3").allocate())
        XCTAssertError(coreA.client("127.0.0.1:4").allocate(), 508)
        XCTAssertEqual(ledger.total, 2)
    }
}
