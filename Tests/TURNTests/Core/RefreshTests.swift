import STUN
import TURN
import XCTest

final class RefreshTests: XCTestCase {
    func testRefreshExtendsTheAllocation() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        harness.clock.advance(seconds: 500)
        XCTAssertEqual(client.refresh(600)?.lifetime, 600)
        harness.clock.advance(seconds: 500)
        harness.expire()
        XCTAssertEqual(harness.core.allocationCount, 1, "alive 1000 s after creation thanks to the refresh")
        harness.clock.advance(seconds: 101)
        harness.expire()
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.closed, harness.opened)
    }

    func testRefreshWithoutLifetimeGetsTheDefault() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate([.lifetime(3600)]))
        XCTAssertEqual(client.refresh()?.lifetime, 600)
    }

    func testLifetimeZeroDeletesTheAllocationAndReleasesItsPort() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        let response = client.refresh(0)
        XCTAssertSuccess(response)
        XCTAssertEqual(response?.lifetime, 0)
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.core.bookedRelayPorts, 0)
        XCTAssertEqual(harness.closed, [relay])
        XCTAssertSuccess(client.allocate(), "the 5-tuple can allocate again")
    }

    func testRetransmittedDeletingRefreshGetsTheSameSuccessNot437() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        let bytes = client.signed(.refresh, [.lifetime(0)])
        let first = client.sendRaw(bytes)
        let second = client.sendRaw(bytes)
        XCTAssertSuccess(first.first)
        XCTAssertSuccess(second.first)
        XCTAssertEqual(harness.core.counters.retransmissionsAnswered, 1)
    }

    func testRefreshWithoutAnAllocationIs437() {
        let harness = TURNHarness()
        XCTAssertError(harness.client().refresh(), 437)
        XCTAssertError(harness.client().refresh(0), 437)
    }

    func testRefreshAskingForAFamilyTheAllocationLacksIs443() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        XCTAssertError(client.request(.refresh, [.requestedAddressFamily(.ipv6)]), 443)
    }

    func testAllocationOnAnotherFiveTupleIsIndependent() {
        let harness = TURNHarness()
        let udp = harness.client("127.0.0.1:40000")
        let tcp = harness.client("127.0.0.1:40000", transport: .tcp)
        XCTAssertSuccess(udp.allocate())
        XCTAssertSuccess(tcp.allocate(), "same addresses, other transport: another 5-tuple")
        XCTAssertSuccess(udp.refresh(0))
        XCTAssertSuccess(tcp.refresh())
    }

    func testClosingATCPConnectionDeletesItsAllocation() {
        let harness = TURNHarness()
        let client = harness.client(transport: .tcp)
        let relay = client.allocated()
        harness.drive { harness.core.clientTransportClosed(client.fiveTuple, into: &$0) }
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.closed, [relay])
    }
}
