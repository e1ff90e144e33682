import NIOCore
import STUN
import TURN
import XCTest

/// The routes the core gives the threads of TCP and TLS clients (`streamRoutes`): the same decisions as for the
/// kernel fast path, with a stream five-tuple, and counts that are not the kernel's.
final class StreamRouteTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!

    private func harness(_ configure: (inout TURNConfiguration) -> Void = { _ in }) -> TURNHarness {
        TURNHarness(deny: ["127.0.0.66/32"]) {
            $0.streamRoutes = true
            configure(&$0)
        }
    }

    /// A TCP client of `harness` with an allocation and channel 0x4001 bound to `peer`.
    private func boundTCPClient(of harness: TURNHarness) -> TURNTestClient {
        let client = harness.client(transport: .tcp)
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        return client
    }

    func testChannelBindOverTCPRoutesTheChannelUntilThePermissionExpires() throws {
        let harness = harness()
        let client = harness.client(transport: .tcp)
        let relay = client.allocated()
        let start = harness.clock.now()
        XCTAssertSuccess(client.bindChannel(0x4001, peer))
        let route = try XCTUnwrap(harness.kernelRoutes.values.first)
        XCTAssertEqual(route.fiveTuple, client.fiveTuple)
        XCTAssertEqual(route.fiveTuple.transport, .tcp)
        XCTAssertEqual(route.relay, relay)
        XCTAssertEqual(route.peer, peer)
        XCTAssertEqual(route.expiry, start.adding(seconds: 300))

        harness.clock.advance(seconds: 100)
        XCTAssertSuccess(client.createPermission(peer))
        XCTAssertEqual(harness.kernelRoutes[route.key]?.expiry, start.adding(seconds: 400))
    }

    func testNoStreamRouteForUDPClientsDeniedPeersOrRateLimitedAllocations() {
        let udp = harness()
        let datagrams = udp.client()
        _ = datagrams.allocated()
        XCTAssertSuccess(datagrams.bindChannel(0x4001, peer))
        XCTAssertTrue(udp.kernelRoutes.isEmpty, "UDP clients' channels go to the kernel fast path only")

        let denied = harness()
        let tcp = denied.client(transport: .tls)
        _ = tcp.allocated()
        XCTAssertError(tcp.bindChannel(0x4001, TransportAddress("127.0.0.66:7000")!), 403)
        XCTAssertTrue(denied.kernelRoutes.isEmpty)

        let limited = harness { $0.maxBytesPerSecondPerAllocation = 10_000 }
        let slow = limited.client(transport: .tcp)
        _ = slow.allocated()
        XCTAssertSuccess(slow.bindChannel(0x4001, peer))
        XCTAssertTrue(limited.kernelRoutes.isEmpty, "a rate limit is enforced per packet, in the core")
    }

    func testDeletingTheAllocationTakesTheRouteBackAndCountsWhatItSent() throws {
        let harness = harness()
        let client = boundTCPClient(of: harness)
        let key = try XCTUnwrap(harness.kernelRoutes.keys.first)
        harness.core.kernelForwarded(key, KernelRouteCounts(bytesToPeer: 500, packetsToPeer: 5))
        harness.kernelCountsOnRemoval = KernelRouteCounts(bytesToPeer: 200, packetsToPeer: 2)
        harness.events.removeAll()
        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.unrouted, [key])
        XCTAssertTrue(harness.kernelRoutes.isEmpty)
        XCTAssertEqual(harness.closedTraffic, [AllocationTraffic.Snapshot(bytesToPeer: 700, packetsToPeer: 7)])
        XCTAssertEqual(harness.core.counters.streamRoutedPacketsToPeer, 7)
        XCTAssertEqual(harness.core.counters.packetsToPeer, 7)
        XCTAssertEqual(harness.core.counters.kernelPacketsToPeer, 0, "not the kernel's packets")
    }

    func testARelayPortStaysBookedUntilTheClientsThreadHasLetItsDescriptorGo() throws {
        let harness = harness()
        harness.holdRouteRemovals = true
        let client = boundTCPClient(of: harness)
        harness.events.removeAll()
        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.core.bookedRelayPorts, 1, "the thread may still send from the port")
        XCTAssertTrue(harness.closedTraffic.isEmpty)
        harness.answerHeldRemovals(KernelRouteCounts(bytesToPeer: 30, packetsToPeer: 3))
        XCTAssertEqual(harness.core.bookedRelayPorts, 0)
        XCTAssertEqual(harness.closedTraffic, [AllocationTraffic.Snapshot(bytesToPeer: 30, packetsToPeer: 3)])
    }

    func testANewAllocationOnTheConnectionBeforeTheOldOneSettledLosesNoEvent() throws {
        let harness = harness()
        harness.holdRouteRemovals = true
        let client = boundTCPClient(of: harness)
        XCTAssertSuccess(client.refresh(0))
        harness.events.removeAll()
        // The same 5-tuple again, its first route still out.
        _ = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4002, peer))
        let key = try XCTUnwrap(harness.kernelRoutes.keys.first)
        harness.core.kernelForwarded(key, KernelRouteCounts(bytesToPeer: 10, packetsToPeer: 1))
        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.closedTraffic.count, 1, "the first allocation's event goes when the second ends")
        XCTAssertEqual(harness.core.bookedRelayPorts, 2)
        harness.answerHeldRemovals()
        XCTAssertEqual(harness.closedTraffic.count, 2)
        XCTAssertEqual(harness.closedTraffic.last?.packetsToPeer, 1)
        XCTAssertEqual(harness.core.bookedRelayPorts, 0)
    }
}
