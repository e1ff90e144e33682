import NIOCore
import STUN
import SwitchboardApp
import TURN
import XCTest

/// RFC 6062 TCP relays end to end on loopback: a control connection, a data connection, and a plain TCP peer.
final class TURNTCPRelayTests: XCTestCase {
    private let key = IntegrityKey.longTerm(username: "alice", realm: "switchboard", password: "alice-password")

    private func startServer(maxBps: Int = 0, recorder: ClosedAllocationRecorder? = nil) async throws -> RunningServer {
        try await running(eventConsumers: recorder.map { [$0.consume] } ?? []) {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 54_000...54_999
            $0.allowPeers = ["127.0.0.0/8"]
            $0.maxBps = maxBps
        }
    }

    /// A control connection with a TCP allocation: the connection, its nonce and the relayed address.
    private func tcpAllocation(_ server: RunningServer) async throws -> (StreamSocket, String, TransportAddress) {
        let control = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let challenge = try await control.transact(.allocate, [.requestedTransport(6)], nonce: nil, key: key)
        let nonce = try XCTUnwrap(challenge.nonce)
        let response = try await control.transact(.allocate, [.requestedTransport(6)], nonce: nonce, key: key)
        XCTAssertEqual(response.type.messageClass, .successResponse, "\(String(describing: response.errorCode))")
        guard case .xorRelayedAddress(let relay)? = response.attribute(.xorRelayedAddress) else { throw ChannelError.eof }
        return (control, nonce, relay)
    }

    /// Opens a data connection and binds it to `id`; returns it once the ConnectionBind succeeded.
    private func dataConnection(_ server: RunningServer, id: UInt32, nonce: String) async throws -> (RawTCPConnection, STUNMessage?) {
        let data = try await RawTCPConnection.connect(to: server.address("stun tcp"))
        let request = STUNMessage(type: STUNMessageType(method: .connectionBind, messageClass: .request),
                                  attributes: [.connectionID(id), .username("alice"), .realm("switchboard"), .nonce(nonce)])
        try await data.channel.writeAndFlush(request.encoded(options: .init(integrityKey: key, fingerprint: true)))
        for _ in 0..<100 {
            if let response = data.takeSTUN() { return (data, response) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (data, nil)
    }

    private func connectionID(_ message: STUNMessage?) -> UInt32? {
        if case .connectionID(let id)? = message?.attribute(.connectionID) { return id }
        return nil
    }

    func testConnectThenConnectionBindCarriesBytesBothWaysFromTheRelayAddress() async throws {
        let recorder = ClosedAllocationRecorder()
        let server = try await startServer(recorder: recorder)
        let peer = try await RawTCPListener()
        let (control, nonce, relay) = try await tcpAllocation(server)

        let connect = try await control.transact(.connect, [.xorPeerAddress(peer.address)], nonce: nonce, key: key)
        XCTAssertEqual(connect.type, STUNMessageType(method: .connect, messageClass: .successResponse),
                       "\(String(describing: connect.errorCode))")
        let id = try XCTUnwrap(connectionID(connect))
        let accepted = await eventually { !peer.connections.isEmpty }
        XCTAssertTrue(accepted)
        let fromPeer = try XCTUnwrap(peer.connections.first)
        XCTAssertEqual(fromPeer.remoteAddress, relay, "the peer sees the relayed address, whoever connected")
        // Sent before the bind: the server holds it until the data connection exists.
        try await fromPeer.send("early words")

        let (data, bound) = try await dataConnection(server, id: id, nonce: nonce)
        XCTAssertEqual(bound?.type, STUNMessageType(method: .connectionBind, messageClass: .successResponse),
                       "\(String(describing: bound?.errorCode))")
        XCTAssertTrue(bound?.verifyIntegrity(.sha1, key: key) ?? false)
        let early = await eventually { data.received == "early words" }
        XCTAssertTrue(early, "got \(data.received)")

        // Raw bytes both ways, including bytes that would look like STUN or ChannelData.
        try await data.send("\u{0}\u{1} from the client")
        try await fromPeer.send(" and more")
        let both = await eventually { fromPeer.received == "\u{0}\u{1} from the client" && data.received == "early words and more" }
        XCTAssertTrue(both, "peer got \(fromPeer.received.debugDescription), client got \(data.received.debugDescription)")

        // A second Connect to the same peer address is 446 while the pair lives.
        let again = try await control.transact(.connect, [.xorPeerAddress(peer.address)], nonce: nonce, key: key)
        XCTAssertEqual(again.errorCode?.code, 446)

        // Closing the peer closes the data connection.
        await fromPeer.close()
        let closed = await eventually { data.isClosed }
        XCTAssertTrue(closed)
        await control.close()
        await peer.close()

        // What the spliced connections carried is the allocation's traffic, in `allocation.closed` and the counters.
        let reported = await eventually { recorder.closedTraffic != nil }
        XCTAssertTrue(reported)
        XCTAssertEqual(recorder.closedTraffic?.bytesToPeer, "\u{0}\u{1} from the client".utf8.count)
        XCTAssertEqual(recorder.closedTraffic?.bytesToClient, "early words and more".utf8.count)
        XCTAssertGreaterThanOrEqual(recorder.closedTraffic?.packetsToClient ?? 0, 1)
        let counters = try await server.service.turnCounters()
        XCTAssertEqual(counters.bytesToPeer, "\u{0}\u{1} from the client".utf8.count)
        XCTAssertEqual(counters.bytesToClient, "early words and more".utf8.count)
    }

    func testAPeerConnectingInIsAnnouncedWithConnectionAttemptOnlyWithAPermission() async throws {
        let server = try await startServer()
        let (control, nonce, relay) = try await tcpAllocation(server)

        // No permission yet: the server closes the peer's connection.
        let refused = try await RawTCPConnection.connect(to: relay)
        let closedAtOnce = await eventually { refused.isClosed }
        XCTAssertTrue(closedAtOnce)

        let permission = try await control.transact(.createPermission, [.xorPeerAddress(TransportAddress("127.0.0.1:1")!)],
                                                    nonce: nonce, key: key)
        XCTAssertEqual(permission.type.messageClass, .successResponse)
        let peer = try await RawTCPConnection.connect(to: relay)
        try await peer.send("knock knock")
        let unit = try await control.nextUnit()
        let attempt = try STUNMessage(decoding: try XCTUnwrap(unit))
        XCTAssertEqual(attempt.type, STUNMessageType(method: .connectionAttempt, messageClass: .indication))
        if case .xorPeerAddress(let address)? = attempt.attribute(.xorPeerAddress) {
            XCTAssertEqual(address, peer.localAddress)
        } else {
            XCTFail("ConnectionAttempt without XOR-PEER-ADDRESS")
        }
        let id = try XCTUnwrap(connectionID(attempt))
        let (data, bound) = try await dataConnection(server, id: id, nonce: nonce)
        XCTAssertEqual(bound?.type.messageClass, .successResponse, "\(String(describing: bound?.errorCode))")
        let arrived = await eventually { data.received == "knock knock" }
        XCTAssertTrue(arrived)

        // The control connection closing takes the allocation, the peer connection and the data connection along.
        await control.close()
        let allClosed = await eventually { peer.isClosed && data.isClosed }
        XCTAssertTrue(allClosed)
    }

    func testDeniedPeersAndBadConnectionIDsAreRefused() async throws {
        let server = try await startServer()
        let (control, nonce, _) = try await tcpAllocation(server)
        let denied = try await control.transact(.connect, [.xorPeerAddress(TransportAddress("10.1.2.3:80")!)],
                                                nonce: nonce, key: key)
        XCTAssertEqual(denied.errorCode?.code, 403)

        // Nobody listens on this port: 447.
        let closedPort = try await RawTCPListener()
        let unreachable = closedPort.address
        await closedPort.close()
        let failed = try await control.transact(.connect, [.xorPeerAddress(unreachable)], nonce: nonce, key: key)
        XCTAssertEqual(failed.errorCode?.code, 447)

        let (_, unknown) = try await dataConnection(server, id: 0xDEAD_BEEF, nonce: nonce)
        XCTAssertEqual(unknown?.errorCode?.code, 400)

        // ConnectionBind on the control connection itself is refused too.
        let onControl = try await control.transact(.connectionBind, [.connectionID(1)], nonce: nonce, key: key)
        XCTAssertEqual(onControl.errorCode?.code, 400)

        // A TCP allocation over UDP is 400 (RFC 6062 §5.1).
        let udp = try await RawUDPSocket()
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                  attributes: [.requestedTransport(6), .username("alice"), .realm("switchboard"),
                                               .nonce(nonce)])
        try await udp.send(request, to: server.address("stun udp"), options: .init(integrityKey: key, fingerprint: true))
        let received = try await udp.nextMessage()
        let (answer, _) = try XCTUnwrap(received)
        XCTAssertEqual(answer.errorCode?.code, 400)
        await udp.close()
        await control.close()
    }

    /// `max-bps` holds a TCP allocation to its byte rate each way, as it does a UDP one, without losing a byte: 60,000
    /// bytes each way at 20,000 bytes/s (a burst of one second's worth, then the rate) take about two seconds.
    func testMaxBpsPacesATCPRelayEachWayWithoutLosingBytes() async throws {
        let server = try await startServer(maxBps: 20_000)
        let peer = try await RawTCPListener()
        let (control, nonce, _) = try await tcpAllocation(server)
        let connect = try await control.transact(.connect, [.xorPeerAddress(peer.address)], nonce: nonce, key: key)
        let id = try XCTUnwrap(connectionID(connect), "\(String(describing: connect.errorCode))")
        let accepted = await eventually { !peer.connections.isEmpty }
        XCTAssertTrue(accepted)
        let fromPeer = try XCTUnwrap(peer.connections.first)
        let (data, bound) = try await dataConnection(server, id: id, nonce: nonce)
        XCTAssertEqual(bound?.type.messageClass, .successResponse, "\(String(describing: bound?.errorCode))")

        let toPeer = String(repeating: "c", count: 60_000), toClient = String(repeating: "p", count: 60_000)
        let started = Date()
        try await data.send(toPeer)
        try await fromPeer.send(toClient)
        let arrived = await eventually(within: 15) { fromPeer.received.utf8.count >= 60_000 && data.received.utf8.count >= 60_000 }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(arrived, "peer got \(fromPeer.received.utf8.count), client got \(data.received.utf8.count) bytes")
        XCTAssertEqual(fromPeer.received, toPeer)
        XCTAssertEqual(data.received, toClient)
        XCTAssertGreaterThan(elapsed, 1.5, "60,000 bytes each way at 20,000 bytes/s went through in \(elapsed) s")
        await control.close()
        await peer.close()
    }
}
