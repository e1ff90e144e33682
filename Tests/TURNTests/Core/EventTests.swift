import NIOCore
import STUN
import TURN
import XCTest

/// The lifecycle events the TURN core emits: once per change, never per packet.
final class TURNEventTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!

    func testAllocationLifecycleCarriesItsTraffic() throws {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        guard case .allocationCreated(let created)? = harness.events.last else { return XCTFail("\(harness.events)") }
        XCTAssertEqual(created.fiveTuple, client.fiveTuple)
        XCTAssertEqual(created.username, "alice")
        XCTAssertEqual(created.relays, [relay])
        XCTAssertEqual(created.relayProtocol, .udp)

        harness.events = []
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertEqual(harness.events, [.channelBound(client.fiveTuple, channel: 0x4000, peer: peer),
                                        .permissionCreated(client.fiveTuple, peer: peer.ip)])
        harness.events = []
        XCTAssertSuccess(client.createPermission(peer))
        XCTAssertEqual(harness.events, [], "a refreshed permission is not a new one")

        client.sendChannelData(channel: 0x4000, [1, 2, 3])
        client.sendChannelData(channel: 0x4000, [4])
        _ = harness.peerSends([5, 6, 7, 8, 9], from: peer, to: relay)
        XCTAssertEqual(harness.events, [], "no event per packet")

        XCTAssertSuccess(client.refresh(1200))
        XCTAssertEqual(harness.events, [.allocationRefreshed(client.fiveTuple, lifetime: 1200)])
        harness.events = []
        XCTAssertSuccess(client.refresh(0))
        guard case .allocationClosed(let summary, let reason, let traffic)? = harness.events.first else {
            return XCTFail("\(harness.events)")
        }
        XCTAssertEqual(summary.fiveTuple, client.fiveTuple)
        XCTAssertEqual(reason, .deleted)
        XCTAssertEqual(traffic, AllocationTraffic.Snapshot(bytesToPeer: 4, packetsToPeer: 2, bytesToClient: 5, packetsToClient: 1))
    }

    func testExpiryAndClosedConnectionsAreReasons() {
        let harness = TURNHarness()
        let udp = harness.client()
        _ = udp.allocated()
        let tcp = harness.client("127.0.0.1:40001", transport: .tcp)
        _ = tcp.allocated()
        harness.events = []
        harness.drive { harness.core.clientTransportClosed(tcp.fiveTuple, into: &$0) }
        harness.clock.advance(seconds: 601)
        harness.expire()
        let reasons: [AllocationEndReason] = harness.events.compactMap {
            if case .allocationClosed(_, let reason, _) = $0 { return reason }
            return nil
        }
        XCTAssertEqual(reasons, [.connectionClosed, .expired])
    }

    func testQuotaRefusalsAndDeniedPeersAreEvents() {
        let harness = TURNHarness(deny: ["127.0.0.66/32"]) { $0.maxAllocationsPerUser = 1 }
        let first = harness.client()
        _ = first.allocated()
        let second = harness.client("127.0.0.1:40001")
        XCTAssertError(second.allocate(), 486)
        XCTAssertEqual(harness.events.last, .quotaRefused(username: "alice", code: 486))
        XCTAssertError(first.createPermission(TransportAddress("127.0.0.66:1")!), 403)
        XCTAssertEqual(harness.events.last, .peerDenied(first.fiveTuple, username: "alice", peer: IPAddress("127.0.0.66")!))
    }
}
