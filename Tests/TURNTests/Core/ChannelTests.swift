import NIOCore
import STUN
import TURN
import XCTest

final class ChannelTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!
    let otherPeer = TransportAddress("127.0.0.10:7000")!

    func testChannelDataBothWays() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        client.sendChannelData(channel: 0x4000, [1, 2, 3, 4, 5])
        XCTAssertEqual(harness.sentToPeers, [.init(data: [1, 2, 3, 4, 5], relay: relay, peer: peer)])
        let delivered = harness.peerSends([6, 7, 8], from: peer, to: relay)
        XCTAssertEqual(delivered.map { Array($0.bytes.readableBytesView) }, [[0x40, 0x00, 0x00, 0x03, 6, 7, 8]],
                       "UDP: no padding")
    }

    func testStreamTransportPadsChannelDataToFourBytes() {
        let harness = TURNHarness()
        let client = harness.client(transport: .tcp)
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        let delivered = harness.peerSends([6, 7, 8], from: peer, to: relay)
        XCTAssertEqual(delivered.map { Array($0.bytes.readableBytesView) }, [[0x40, 0x01, 0x00, 0x03, 6, 7, 8, 0]])
    }

    func testChannelBindInstallsAPermission() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        client.sendIndication([1], to: TransportAddress(ip: peer.ip, port: 1))
        XCTAssertEqual(harness.sentToPeers.count, 1)
    }

    func testPeerDataOnABoundPeerFromAnotherPortComesAsADataIndication() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        let delivered = harness.peerSends([1], from: TransportAddress(ip: peer.ip, port: 1), to: relay)
        let message = delivered.first.flatMap { try? STUNMessage(decoding: $0.bytes) }
        XCTAssertEqual(message?.type.method, .data, "the channel is for one transport address, the permission for the IP")
    }

    func testRebindingTheSameNumberToTheSamePeerRefreshes() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated(lifetime: 3600)
        // Rebinding refreshes both the binding (10 min) and the peer's permission (5 min).
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        harness.clock.advance(seconds: 280)
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        harness.clock.advance(seconds: 280)
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        harness.clock.advance(seconds: 280)
        harness.expire()
        client.sendChannelData(channel: 0x4000, [1])
        XCTAssertEqual(harness.sentToPeers.count, 1, "still bound 840 s after the first bind")
    }

    func testNumberBoundToAnotherPeerIs400() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertError(client.bindChannel(0x4000, otherPeer), 400)
    }

    func testPeerBoundToAnotherNumberIs400() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertError(client.bindChannel(0x4001, peer), 400)
    }

    func testNumbersOutsideTheRangeAre400() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.bindChannel(0x3FFF, peer), 400)
        XCTAssertError(client.bindChannel(0x8000, peer), 400)
        XCTAssertError(client.bindChannel(0xFFFF, peer), 400)
        XCTAssertSuccess(client.bindChannel(0x4FFF, peer))
    }

    func testMissingAttributesAre400() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.request(.channelBind, [.xorPeerAddress(peer)]), 400)
        XCTAssertError(client.request(.channelBind, [.channelNumber(0x4000)]), 400)
    }

    func testDeniedPeerIs403() {
        let harness = TURNHarness(allow: [])
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.bindChannel(0x4000, peer), 403)
        client.sendChannelData(channel: 0x4000, [1])
        XCTAssertTrue(harness.sentToPeers.isEmpty)
    }

    func testWrongFamilyPeerIs443() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.bindChannel(0x4000, TransportAddress("[::1]:7000")!), 443)
    }

    func testChannelBindWithoutAllocationIs437() {
        XCTAssertError(TURNHarness().client().bindChannel(0x4000, peer), 437)
    }

    func testChannelLimitIs508() {
        let harness = TURNHarness { $0.maxChannelsPerAllocation = 1 }
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertError(client.bindChannel(0x4001, otherPeer), 508)
    }

    func testExpiredChannelStaysReservedForItsPeerDuringTheCooldown() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated(lifetime: 3600)
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertSuccess(client.createPermission(otherPeer))
        harness.clock.advance(seconds: 601)
        harness.expire()
        client.sendChannelData(channel: 0x4000, [1])
        XCTAssertTrue(harness.sentToPeers.isEmpty, "the binding expired after 10 minutes")
        XCTAssertError(client.bindChannel(0x4000, otherPeer), 400, "number reserved for the old peer")
        XCTAssertSuccess(client.bindChannel(0x4000, peer), "the old peer may have it back")
        harness.clock.advance(seconds: 601)
        harness.expire()
        harness.clock.advance(seconds: 301)
        harness.expire()
        XCTAssertSuccess(client.bindChannel(0x4000, otherPeer), "free for anyone after the cooldown")
    }

    func testDataOnAnUnboundChannelIsDropped() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        client.sendChannelData(channel: 0x4002, [1, 2])
        XCTAssertTrue(harness.sentToPeers.isEmpty)
        XCTAssertEqual(harness.core.counters.packetsDropped, 1)
    }

    func testTruncatedAndOutOfRangeChannelDataIsDropped() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        client.sendChannelData([0x40, 0x00, 0x00])                    // shorter than the header
        client.sendChannelData([0x40, 0x00, 0x00, 0x08, 1, 2, 3])    // length says 8, 3 bytes follow
        client.sendChannelData([0x80, 0x00, 0x00, 0x01, 1])          // not a channel number
        XCTAssertTrue(harness.sentToPeers.isEmpty)
        XCTAssertEqual(harness.core.counters.packetsDropped, 3)
        client.sendChannelData([0x40, 0x00, 0x00, 0x02, 1, 2, 0, 0]) // padding after the data is fine
        XCTAssertEqual(harness.sentToPeers.map(\.data), [[1, 2]])
    }

    func testOneClientsBadTrafficLeavesAnotherAllocationAlone() {
        let harness = TURNHarness()
        let good = harness.client("127.0.0.1:1")
        let bad = harness.client("127.0.0.1:2")
        let relay = good.allocated()
        XCTAssertSuccess(good.bindChannel(0x4000, peer))
        _ = bad.allocated()
        for byte in 0...255 { bad.sendChannelData([0x40, UInt8(byte), 0xFF, 0xFF]) }
        XCTAssertError(bad.bindChannel(0x4000, TransportAddress("10.0.0.1:1")!), 403)
        XCTAssertError(bad.allocate(), 437)
        good.sendChannelData(channel: 0x4000, [42])
        XCTAssertEqual(harness.sentToPeers, [.init(data: [42], relay: relay, peer: peer)])
    }
}
