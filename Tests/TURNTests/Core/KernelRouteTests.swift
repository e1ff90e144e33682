import NIOCore
import STUN
import TURN
import XCTest

/// What the core hands a kernel fast path (`routeChannel` / `unrouteChannel`) and how it takes back the counts.
final class KernelRouteTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!

    private func harness(_ configure: (inout TURNConfiguration) -> Void = { _ in }) -> TURNHarness {
        TURNHarness(deny: ["127.0.0.66/32"]) {
            $0.kernelRoutes = true
            configure(&$0)
        }
    }

    func testChannelBindRoutesTheChannelUntilTheEarlierOfChannelAndPermissionExpiry() throws {
        let harness = harness()
        let client = harness.client()
        let relay = client.allocated()
        let start = harness.clock.now()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        let route = try XCTUnwrap(harness.kernelRoutes.values.first)
        XCTAssertEqual(harness.kernelRoutes.count, 1)
        XCTAssertEqual(route.channel, 0x4001)
        XCTAssertEqual(route.relay, relay)
        XCTAssertEqual(route.peer, peer)
        XCTAssertEqual(route.fiveTuple, client.fiveTuple)
        // The permission (300 s) ends before the channel (600 s): the kernel must stop with it.
        XCTAssertEqual(route.expiry, start.adding(seconds: 300))

        harness.clock.advance(seconds: 200)
        XCTAssertSuccess(client.createPermission(peer))
        XCTAssertEqual(harness.kernelRoutes[route.key]?.expiry, start.adding(seconds: 500),
                       "a refreshed permission moves the route's expiry")
    }

    func testNoRouteForDeniedPeersStreamClientsOrRateLimitedAllocations() {
        let denied = harness()
        let client = denied.client()
        _ = client.allocated()
        XCTAssertError(client.bindChannel(0x4001, TransportAddress("127.0.0.66:7000")!), 403)
        XCTAssertTrue(denied.kernelRoutes.isEmpty)

        let stream = harness()
        let tcp = stream.client(transport: .tcp)
        _ = tcp.allocated()
        XCTAssertSuccess(tcp.bindChannel(0x4001, peer))
        XCTAssertTrue(stream.kernelRoutes.isEmpty, "ChannelData over TCP is framed in user space")

        let limited = harness { $0.maxBytesPerSecondPerAllocation = 10_000 }
        let slow = limited.client()
        _ = slow.allocated()
        XCTAssertSuccess(slow.bindChannel(0x4001, peer))
        XCTAssertTrue(limited.kernelRoutes.isEmpty, "a rate limit is enforced per packet, in user space")

        let off = TURNHarness()
        let plain = off.client()
        _ = plain.allocated()
        XCTAssertSuccess(plain.bindChannel(0x4001, peer))
        XCTAssertTrue(off.kernelRoutes.isEmpty, "nothing without kernelRoutes")
    }

    func testExpiredChannelIsUnrouted() {
        let harness = harness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        XCTAssertSuccess(client.refresh(3600))
        harness.clock.advance(seconds: 601)
        harness.expire()
        XCTAssertTrue(harness.kernelRoutes.isEmpty)
        XCTAssertEqual(harness.unrouted.map(\.channel), [0x4001])
    }

    func testAllocationClosedCountsWhatTheKernelForwarded() throws {
        let harness = harness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        client.sendChannelData(channel: 0x4001, [1, 2, 3])
        let key = try XCTUnwrap(harness.kernelRoutes.keys.first)
        harness.core.kernelForwarded(key, KernelRouteCounts(bytesToPeer: 1_000, packetsToPeer: 10,
                                                            bytesToClient: 4_000, packetsToClient: 20))
        harness.kernelCountsOnRemoval = KernelRouteCounts(bytesToPeer: 100, packetsToPeer: 1)
        harness.events.removeAll()
        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.unrouted, [key])
        let closed = harness.closedTraffic
        XCTAssertEqual(closed, [AllocationTraffic.Snapshot(bytesToPeer: 1_103, packetsToPeer: 12, bytesToClient: 4_000,
                                                           packetsToClient: 20)],
                       "user space's packet, the kernel's periodic report and its final one")
        XCTAssertEqual(harness.core.counters.kernelPacketsToPeer, 11)
        XCTAssertEqual(harness.core.counters.packetsToPeer, 12)
        XCTAssertEqual(harness.core.counters.kernelPacketsToClient, 20)
    }
}
