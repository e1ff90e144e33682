import NIOCore
import STUN
import TURN
import XCTest

/// RFC 6062 in the core: TCP allocations, Connect, ConnectionAttempt, ConnectionBind and their timeouts.
final class TCPRelayTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!

    private func tcpAllocation(_ harness: TURNHarness, _ address: String = "127.0.0.1:40000",
                               transport: ClientTransport = .tcp) -> (TURNTestClient, TransportAddress) {
        let client = harness.client(address, transport: transport)
        let response = client.request(.allocate, [.requestedTransport(6)])
        XCTAssertSuccess(response)
        return (client, response?.relayedAddresses.first ?? TransportAddress(ip: .v4(0), port: 0))
    }

    private func connectionID(_ message: STUNMessage?) -> UInt32? {
        if case .connectionID(let id)? = message?.attribute(.connectionID) { return id }
        return nil
    }

    func testTCPAllocationOpensAListeningRelayAndRefusesUDPOnlyAttributes() {
        let harness = TURNHarness()
        let (_, relay) = tcpAllocation(harness)
        XCTAssertEqual(harness.openedTCP, [relay])
        XCTAssertEqual(harness.opened, [], "no UDP socket for a TCP allocation")

        let udp = harness.client("127.0.0.1:40001")
        XCTAssertError(udp.request(.allocate, [.requestedTransport(6)]), 400, "TCP relays need a stream connection")
        let other = harness.client("127.0.0.1:40002", transport: .tls)
        XCTAssertError(other.request(.allocate, [.requestedTransport(6), .dontFragment]), 400)
        XCTAssertError(other.request(.allocate, [.requestedTransport(6), .evenPort(reserveNext: false)]), 400)
        XCTAssertError(other.request(.allocate, [.requestedTransport(132)]), 442)
        XCTAssertSuccess(other.request(.allocate, [.requestedTransport(6)]), "over TLS")
    }

    func testConnectThenBindSplicesTheDataConnection() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        XCTAssertSuccess(client.createPermission(peer))
        // Connect answers only once the edge has connected.
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(peer)]))
        let connect = try XCTUnwrap(harness.peerConnects.first)
        XCTAssertEqual(connect.relay, relay)
        XCTAssertEqual(connect.peer, peer)
        let answers = harness.drive { harness.core.peerConnected(connect.id, into: &$0) }
        let success = try XCTUnwrap(answers.first.flatMap { try? STUNMessage(decoding: $0.bytes) })
        XCTAssertTrue(success.isSuccess)
        XCTAssertEqual(success.type.method, .connect)
        XCTAssertEqual(connectionID(success), connect.id)

        // A second Connect to the same peer while the first is pending or bound: 446.
        XCTAssertError(client.request(.connect, [.xorPeerAddress(peer)]), 446)

        let data = harness.client("127.0.0.1:40010", transport: .tcp)
        data.nonce = nil
        _ = data.unauthenticated(.connectionBind, [.connectionID(connect.id)])
        XCTAssertNil(data.request(.connectionBind, [.connectionID(connect.id)]), "answered inside the bind action")
        let bound = try XCTUnwrap(harness.bound.first)
        XCTAssertEqual(bound.id, connect.id)
        XCTAssertEqual(bound.data, data.fiveTuple)
        XCTAssertEqual(bound.response?.type, STUNMessageType(method: .connectionBind, messageClass: .successResponse))
        XCTAssertTrue(bound.response?.verifyIntegrity(.sha1, key: data.key) ?? false)

        // A bound data connection carries the peer's bytes: an Allocate on it is refused (RFC 6062 §5.4).
        let relaysOpened = harness.opened.count
        XCTAssertError(data.allocate(), 400)
        XCTAssertEqual(harness.opened.count, relaysOpened, "no relay opened for it")

        // Binding the same id again fails.
        let again = harness.client("127.0.0.1:40011", transport: .tcp)
        _ = again.unauthenticated(.connectionBind, [.connectionID(connect.id)])
        XCTAssertError(again.request(.connectionBind, [.connectionID(connect.id)]), 400)

        // The data connection closing closes the peer connection, and frees the peer for a new Connect.
        harness.drive { harness.core.clientTransportClosed(data.fiveTuple, into: &$0) }
        XCTAssertEqual(harness.closedPeerConnections, [connect.id])
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(peer)]))
        XCTAssertEqual(harness.peerConnects.count, 2)
    }

    func testConnectToADeniedPeerIs403AndOnAUDPAllocation400() {
        let harness = TURNHarness(deny: ["127.0.0.66/32"])
        let (client, _) = tcpAllocation(harness)
        XCTAssertError(client.request(.connect, [.xorPeerAddress(TransportAddress("127.0.0.66:80")!)]), 403)
        XCTAssertError(client.request(.connect, [.xorPeerAddress(TransportAddress("10.0.0.1:80")!)]), 403, "outside the allow list")
        XCTAssertError(client.request(.connect, []), 400)
        XCTAssertTrue(harness.peerConnects.isEmpty)

        let udp = harness.client("127.0.0.1:40005")
        _ = udp.allocated()
        XCTAssertError(udp.request(.connect, [.xorPeerAddress(peer)]), 400)
        let stream = harness.client("127.0.0.1:40006", transport: .tcp)
        XCTAssertError(stream.request(.connect, [.xorPeerAddress(peer)]), 437, "no allocation")
    }

    func testFailedConnectIs447() {
        let harness = TURNHarness()
        let (client, _) = tcpAllocation(harness)
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(peer)]))
        let id = harness.peerConnects[0].id
        let answers = harness.drive { harness.core.peerConnectionFailed(id, into: &$0) }
        XCTAssertError(answers.first.flatMap { try? STUNMessage(decoding: $0.bytes) }, 447)
    }

    func testPeerConnectionNeedsAPermissionAndSendsAConnectionAttempt() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        var actions: [TURNAction] = []
        XCTAssertNil(harness.core.peerConnectionArrived(relay: relay, peer: peer, into: &actions), "no permission")
        XCTAssertSuccess(client.createPermission(peer))
        var id: UInt32?
        let delivered = harness.drive { id = harness.core.peerConnectionArrived(relay: relay, peer: peer, into: &$0) }
        let attempt = try XCTUnwrap(delivered.first.flatMap { try? STUNMessage(decoding: $0.bytes) })
        XCTAssertEqual(delivered.first?.fiveTuple, client.fiveTuple)
        XCTAssertEqual(attempt.type, STUNMessageType(method: .connectionAttempt, messageClass: .indication))
        XCTAssertEqual(connectionID(attempt), try XCTUnwrap(id))
        if case .xorPeerAddress(let address)? = attempt.attribute(.xorPeerAddress) {
            XCTAssertEqual(address, peer)
        } else {
            XCTFail("no XOR-PEER-ADDRESS")
        }
    }

    func testUnboundPeerConnectionsCloseAfterThirtySecondsAndTheirIDsStopWorking() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        XCTAssertSuccess(client.createPermission(peer))
        var id: UInt32?
        harness.drive { id = harness.core.peerConnectionArrived(relay: relay, peer: peer, into: &$0) }
        let connection = try XCTUnwrap(id)
        harness.clock.advance(seconds: 29)
        harness.expire()
        XCTAssertEqual(harness.closedPeerConnections, [])
        harness.clock.advance(seconds: 2)
        harness.expire()
        XCTAssertEqual(harness.closedPeerConnections, [connection])

        let data = harness.client("127.0.0.1:40010", transport: .tcp)
        _ = data.unauthenticated(.connectionBind, [.connectionID(connection)])
        XCTAssertError(data.request(.connectionBind, [.connectionID(connection)]), 400, "expired id")
        XCTAssertError(data.request(.connectionBind, [.connectionID(12345)]), 400, "unknown id")
        XCTAssertError(data.request(.connectionBind, []), 400, "no id")
    }

    func testAnotherUsersConnectionCannotBeBound() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        XCTAssertSuccess(client.createPermission(peer))
        var id: UInt32?
        harness.drive { id = harness.core.peerConnectionArrived(relay: relay, peer: peer, into: &$0) }
        let bob = harness.client("127.0.0.1:40020", transport: .tcp, username: "bob", password: "bob-password")
        _ = bob.unauthenticated(.connectionBind, [.connectionID(try XCTUnwrap(id))])
        XCTAssertError(bob.request(.connectionBind, [.connectionID(try XCTUnwrap(id))]), 400)
        XCTAssertTrue(harness.bound.isEmpty)
    }

    func testDeletingTheAllocationClosesItsPeerConnections() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        XCTAssertSuccess(client.createPermission(peer))
        var arrived: UInt32?
        harness.drive { arrived = harness.core.peerConnectionArrived(relay: relay, peer: peer, into: &$0) }
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(TransportAddress("127.0.0.9:7001")!)]))
        harness.drive { harness.core.clientTransportClosed(client.fiveTuple, into: &$0) }
        XCTAssertEqual(Set(harness.closedPeerConnections), Set([try XCTUnwrap(arrived), harness.peerConnects[0].id]))
        XCTAssertEqual(harness.closed, [relay])
    }

    func testPeerConnectionsPerAllocationAreBounded() {
        let harness = TURNHarness { $0.maxPeerConnectionsPerAllocation = 2 }
        let (client, _) = tcpAllocation(harness)
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(TransportAddress("127.0.0.9:1")!)]))
        XCTAssertNil(client.request(.connect, [.xorPeerAddress(TransportAddress("127.0.0.9:2")!)]))
        XCTAssertError(client.request(.connect, [.xorPeerAddress(TransportAddress("127.0.0.9:3")!)]), 508)
    }

    func testChannelsAndSendIndicationsDoNotApplyToTCPAllocations() {
        let harness = TURNHarness()
        let (client, _) = tcpAllocation(harness)
        XCTAssertError(client.bindChannel(0x4000, peer), 400)
        XCTAssertSuccess(client.createPermission(peer))
        client.sendIndication([1, 2], to: peer)
        XCTAssertTrue(harness.sentToPeers.isEmpty)
    }

    /// The bytes of a TCP allocation's data connections never pass the core: the edge reports them, about once a
    /// second and once more as the relay closes, and `allocation.closed` waits for that last report.
    func testStreamTrafficReportedByTheEdgeCountsAndClosingWaitsForTheLastReport() throws {
        let harness = TURNHarness()
        let (client, relay) = tcpAllocation(harness)
        harness.core.streamRelayed(relay, AllocationTraffic.Snapshot(bytesToPeer: 1_000, packetsToPeer: 2,
                                                                     bytesToClient: 300, packetsToClient: 1))
        XCTAssertEqual(harness.core.counters.bytesToPeer, 1_000)
        XCTAssertEqual(harness.core.counters.packetsToClient, 1)

        harness.streamCountsOnClose = AllocationTraffic.Snapshot(bytesToPeer: 10, packetsToPeer: 1)
        XCTAssertSuccess(client.refresh(0))
        XCTAssertEqual(harness.closed, [relay])
        let closed = harness.closedTraffic
        XCTAssertEqual(closed, [AllocationTraffic.Snapshot(bytesToPeer: 1_010, packetsToPeer: 3, bytesToClient: 300,
                                                          packetsToClient: 1)])
        XCTAssertEqual(harness.core.counters.bytesToPeer, 1_010)
    }
}
