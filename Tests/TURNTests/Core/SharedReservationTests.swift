import STUN
@testable import TURN
import XCTest

/// EVEN-PORT reservations are redeemed from another client socket, which the kernel may hash to another core than
/// the one that booked the reservation: with a shared `AllocationLedger` any core honours the token, once.
final class SharedReservationTests: XCTestCase {
    func testATokenBookedOnOneCoreIsRedeemedOnAnotherOnce() {
        let ledger = AllocationLedger(maxTotal: 100, maxPerUser: 100)
        let coreA = TURNHarness(ledger: ledger)
        let coreB = TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 }
        let first = coreA.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        XCTAssertSuccess(first)
        guard let relay = first?.relayedAddresses.first, case .reservationToken(let token)? = first?.attribute(.reservationToken) else {
            return XCTFail("no relay or RESERVATION-TOKEN")
        }
        let second = coreB.client("127.0.0.1:2").allocate([.reservationToken(token)])
        XCTAssertSuccess(second)
        XCTAssertEqual(second?.relayedAddresses.first?.port, relay.port + 1, "the reserved port, from core A's range")
        XCTAssertError(coreA.client("127.0.0.1:3").allocate([.reservationToken(token)]), 508)
        XCTAssertError(coreB.client("127.0.0.1:4").allocate([.reservationToken(token)]), 508)
    }

    func testTheBookingCoreRedeemsItOnceToo() {
        let ledger = AllocationLedger(maxTotal: 100, maxPerUser: 100)
        let coreA = TURNHarness(ledger: ledger)
        let coreB = TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 }
        let first = coreA.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        guard let relay = first?.relayedAddresses.first, case .reservationToken(let token)? = first?.attribute(.reservationToken) else {
            return XCTFail("no relay or RESERVATION-TOKEN")
        }
        XCTAssertEqual(coreA.client("127.0.0.1:2").allocate([.reservationToken(token)])?.relayedAddresses.first?.port,
                       relay.port + 1)
        XCTAssertError(coreB.client("127.0.0.1:3").allocate([.reservationToken(token)]), 508)
    }

    func testAnExpiredReservationIsRefusedOnEveryCore() {
        let ledger = AllocationLedger(maxTotal: 100, maxPerUser: 100)
        let coreA = TURNHarness(ledger: ledger)
        let coreB = TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 }
        let first = coreA.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        guard case .reservationToken(let token)? = first?.attribute(.reservationToken) else { return XCTFail("no token") }
        coreA.clock.advance(seconds: 31)
        coreB.clock.advance(seconds: 31)
        XCTAssertError(coreB.client("127.0.0.1:2").allocate([.reservationToken(token)]), 508)
    }

    func testUnredeemedReservationsDoNotPileUp() {
        let ledger = AllocationLedger(maxTotal: 100_000, maxPerUser: 100_000)
        let core = TURNHarness(ledger: ledger)
        for index in 1...300 {
            _ = core.client("127.0.0.1:\(index)").allocate([.evenPort(reserveNext: true)])
            if index % 50 == 0 {
                core.clock.advance(seconds: 31)
                core.expire()
            }
        }
        XCTAssertLessThanOrEqual(ledger.reservationCount, 128)
    }
}
