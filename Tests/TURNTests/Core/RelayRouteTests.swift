import NIOCore
import STUN
import TURN
import XCTest

/// The per-packet routes an edge calls without actions: ChannelData from a client as a value, and peers' datagrams
/// through the relay's owner kept beside its socket.
final class RelayRouteTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!

    func testClientChannelDataRoutesToItsPeerFromTheRelay() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        var bytes = ByteBuffer()
        ChannelData.write(channel: 0x4000, data: ByteBuffer(bytes: [1, 2, 3]), stream: false, into: &bytes)

        guard case .toPeer(let data, let from, let to) = harness.core.routeClientChannelData(bytes, from: client.fiveTuple)
        else { return XCTFail("a bound channel is relayed") }
        XCTAssertEqual(Array(data.readableBytesView), [1, 2, 3])
        XCTAssertEqual(from, relay)
        XCTAssertEqual(to, peer)
        XCTAssertEqual(harness.core.counters.packetsToPeer, 1)
    }

    func testClientChannelDataOnAnUnboundChannelIsDroppedAndCounted() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        var bytes = ByteBuffer()
        ChannelData.write(channel: 0x4001, data: ByteBuffer(bytes: [1]), stream: false, into: &bytes)
        let dropped = harness.core.counters.packetsDropped

        guard case .drop = harness.core.routeClientChannelData(bytes, from: client.fiveTuple) else {
            return XCTFail("no channel 0x4001 is bound")
        }
        XCTAssertEqual(harness.core.counters.packetsDropped, dropped + 1)
        XCTAssertEqual(harness.core.counters.packetsToPeer, 0)
    }

    func testTheRelayOwnerRoutesLikeTheRelayAddress() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        guard let owner = harness.core.relayOwner(of: relay) else { return XCTFail("the relay has an owner") }
        XCTAssertEqual(owner.fiveTuple, client.fiveTuple)

        let byOwner = harness.core.routePeerDatagram(length: 3, from: peer, owner: owner)
        let byAddress = harness.core.routePeerDatagram(length: 3, from: peer, relay: relay)
        XCTAssertEqual(byOwner, .channelData(0x4000, to: client.fiveTuple))
        XCTAssertEqual(byOwner, byAddress)
        XCTAssertEqual(harness.core.routePeerDatagram(length: 3, from: TransportAddress("127.0.0.77:1")!, owner: owner), .drop,
                       "no permission for that peer")
    }

    func testAnOwnerHeldPastItsAllocationRoutesNothing() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        guard let owner = harness.core.relayOwner(of: relay) else { return XCTFail("the relay has an owner") }

        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.closed, [relay], "the edge is asked to close the relay socket")
        XCTAssertNil(harness.core.relayOwner(of: relay))
        let dropped = harness.core.counters.packetsDropped
        XCTAssertEqual(harness.core.routePeerDatagram(length: 3, from: peer, owner: owner), .drop)
        XCTAssertEqual(harness.core.counters.packetsDropped, dropped + 1)
    }

    /// A Data indication's 16-bit length would wrap past this payload: over TCP or TLS the client would then read
    /// the peer's bytes as messages of its own (a forged ChannelData or Data indication).
    func testAPeerDatagramTooLongForADataIndicationIsDroppedNotFramedWithAWrappedLength() {
        let harness = TURNHarness()
        let client = harness.client(transport: .tcp)
        let relay = client.allocated()
        XCTAssertSuccess(client.createPermission(peer))
        let largest = PeerDatagramRoute.largestDataIndicationPayload

        XCTAssertEqual(harness.core.routePeerDatagram(length: largest, from: peer, relay: relay),
                       .dataIndication(to: client.fiveTuple))
        let dropped = harness.core.counters.packetsDropped
        XCTAssertEqual(harness.core.routePeerDatagram(length: largest + 1, from: peer, relay: relay), .drop)
        XCTAssertEqual(harness.core.counters.packetsDropped, dropped + 1)

        // The largest one still frames as one message whose length covers it all (an IPv6 peer's address is the
        // longest XOR-PEER-ADDRESS).
        var framed = ByteBuffer()
        PeerDatagramRoute.dataIndication(to: client.fiveTuple)
            .frame(ByteBuffer(repeating: 7, count: largest), from: TransportAddress("[2001:db8::1]:9")!, into: &framed)
        XCTAssertEqual(Int(framed.getInteger(at: 2, as: UInt16.self)!) + 20, framed.readableBytes)

        // A bound channel carries any UDP payload.
        XCTAssertSuccess(client.bindChannel(0x4000, peer))
        XCTAssertEqual(harness.core.routePeerDatagram(length: 65_507, from: peer, relay: relay),
                       .channelData(0x4000, to: client.fiveTuple))
    }
}
