import STUN
import TURN
import XCTest

final class ExpiryTests: XCTestCase {
    func testTenThousandAllocationsExpireAndLeaveNoPortOrTableEntry() {
        let harness = TURNHarness {
            $0.relayPorts = 50_000...60_999
            $0.maxAllocationsPerUser = 20_000
        }
        for index in 0..<10_000 {
            let client = harness.client("127.0.\(index / 250).\(index % 250 + 1):\(10_000 + index)")
            guard client.allocate()?.isSuccess == true else { return XCTFail("allocation \(index) failed") }
        }
        XCTAssertEqual(harness.core.allocationCount, 10_000)
        XCTAssertEqual(harness.core.bookedRelayPorts, 10_000)
        XCTAssertEqual(Set(harness.opened).count, 10_000, "every allocation got its own relay address")

        harness.clock.advance(seconds: 599)
        harness.expire()
        XCTAssertEqual(harness.core.allocationCount, 10_000, "not before the lifetime ends")
        harness.clock.advance(seconds: 2)
        harness.expire()
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.core.bookedRelayPorts, 0)
        XCTAssertEqual(Set(harness.closed), Set(harness.opened))
        XCTAssertEqual(harness.core.counters.allocationsExpired, 10_000)
    }

    func testExpiredAllocationNoLongerRelays() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        let peer = TransportAddress("127.0.0.9:7000")!
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        harness.clock.advance(seconds: 601)
        harness.expire()
        client.sendChannelData(channel: 0x4000, [1])
        XCTAssertTrue(harness.peerSends([1], from: peer, to: relay).isEmpty)
        XCTAssertTrue(harness.sentToPeers.isEmpty)
        XCTAssertError(client.refresh(), 437)
    }

    func testRetransmissionCacheForgetsOldAnswers() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        let bytes = client.signed(.createPermission, [.xorPeerAddress(TransportAddress("127.0.0.9:1")!)])
        XCTAssertSuccess(client.sendRaw(bytes).first)
        harness.clock.advance(seconds: 41)
        harness.expire()
        XCTAssertSuccess(client.sendRaw(bytes).first, "processed again, not from the cache")
        XCTAssertEqual(harness.core.counters.retransmissionsAnswered, 0)
    }
}
