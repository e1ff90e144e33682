import STUN
@testable import TURN
import XCTest

/// EVEN-PORT reservations are redeemed from another client socket, which the kernel may hash to another core than
/// the one that booked the reservation: with a shared `AllocationLedger` any core honours the token, once.
final class SharedReservationTests: XCTestCase {
    /// Two cores of one server: A books from the harness's range, B from its own.
    private func twoCores() -> (a: TURNHarness, b: TURNHarness) {
        let ledger = AllocationLedger(maxTotal: 100, maxPerUser: 100)
        return (TURNHarness(ledger: ledger), TURNHarness(ledger: ledger) { $0.relayPorts = 51_000...51_999 })
    }

    /// An EVEN-PORT allocation with the R bit on `core`: its relay address and the token for the next port.
    private func reserve(on core: TURNHarness) -> (relay: TransportAddress, token: UInt64)? {
        let response = core.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        XCTAssertSuccess(response)
        guard let relay = response?.relayedAddresses.first,
              case .reservationToken(let token)? = response?.attribute(.reservationToken) else { return nil }
        return (relay, token)
    }

    func testATokenBookedOnOneCoreIsRedeemedOnAnotherOnce() throws {
        let (coreA, coreB) = twoCores()
        let (relay, token) = try XCTUnwrap(reserve(on: coreA), "no relay or RESERVATION-TOKEN")
        let second = coreB.client("127.0.0.1:2").allocate([.reservationToken(token)])
        XCTAssertSuccess(second)
        XCTAssertEqual(second?.relayedAddresses.first?.port, relay.port + 1, "the reserved port, from core A's range")
        XCTAssertError(coreA.client("127.0.0.1:3").allocate([.reservationToken(token)]), 508)
        XCTAssertError(coreB.client("127.0.0.1:4").allocate([.reservationToken(token)]), 508)
    }

    func testTheBookingCoreRedeemsItOnceToo() throws {
        let (coreA, coreB) = twoCores()
        let (relay, token) = try XCTUnwrap(reserve(on: coreA), "no relay or RESERVATION-TOKEN")
        XCTAssertEqual(coreA.client("127.0.0.1:2").allocate([.reservationToken(token)])?.relayedAddresses.first?.port,
                       relay.port + 1)
        XCTAssertError(coreB.client("127.0.0.1:3").allocate([.reservationToken(token)]), 508)
    }

    func testARefusedRedemptionOnTheBookingCoreStillFreesTheReservedPortAtExpiry() throws {
        let (coreA, coreB) = twoCores()
        let (_, token) = try XCTUnwrap(reserve(on: coreA), "no relay or RESERVATION-TOKEN")
        XCTAssertEqual(coreA.core.bookedRelayPorts, 2, "the allocation's port and the reserved one")
        XCTAssertSuccess(coreB.client("127.0.0.1:2").allocate([.reservationToken(token)]))
        XCTAssertError(coreA.client("127.0.0.1:3").allocate([.reservationToken(token)]), 508)
        coreA.clock.advance(seconds: 31)
        coreA.expire()
        XCTAssertEqual(coreA.core.bookedRelayPorts, 1, "the reserved port is booked on core A no longer")
    }

    func testAnExpiredReservationIsRefusedOnEveryCore() throws {
        let (coreA, coreB) = twoCores()
        let (_, token) = try XCTUnwrap(reserve(on: coreA), "no relay or RESERVATION-TOKEN")
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
