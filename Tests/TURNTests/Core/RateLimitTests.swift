import STUN
import TURN
import XCTest

final class RateLimitTests: XCTestCase {
    func testRelayBytesBeyondTheBudgetAreDroppedAndCounted() {
        let harness = TURNHarness { $0.maxBytesPerSecondPerAllocation = 1000 }
        let client = harness.client()
        let relay = client.allocated()
        let peer = TransportAddress("127.0.0.9:7000")!
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        let payload = [UInt8](repeating: 1, count: 300)
        for _ in 0..<5 { client.sendChannelData(channel: 0x4000, payload) }
        XCTAssertEqual(harness.sentToPeers.count, 3, "1000 bytes per second: three 300-byte packets")
        XCTAssertEqual(harness.core.counters.packetsRateLimited, 2)
        harness.clock.advance(seconds: 0.6)
        client.sendChannelData(channel: 0x4000, payload)
        XCTAssertEqual(harness.sentToPeers.count, 4, "the bucket refills with time")

        // The other direction has its own bucket.
        var delivered = 0
        for _ in 0..<5 { delivered += harness.peerSends(payload, from: peer, to: relay).count }
        XCTAssertEqual(delivered, 3)
    }

    func testOneAllocationsLimitDoesNotTouchAnother() {
        let harness = TURNHarness { $0.maxBytesPerSecondPerAllocation = 500 }
        let peer = TransportAddress("127.0.0.9:7000")!
        let noisy = harness.client("127.0.0.1:1")
        let quiet = harness.client("127.0.0.1:2")
        _ = noisy.allocated()
        _ = quiet.allocated()
        XCTAssertSuccess(noisy.bindChannel(0x4000, peer))
        XCTAssertSuccess(quiet.bindChannel(0x4000, peer))
        for _ in 0..<10 { noisy.sendChannelData(channel: 0x4000, [UInt8](repeating: 0, count: 400)) }
        harness.clearPeerSends()
        quiet.sendChannelData(channel: 0x4000, [UInt8](repeating: 0, count: 400))
        XCTAssertEqual(harness.sentToPeers.count, 1)
    }
}
