import NIOCore
import STUN
import EdgeSupport
import SwitchboardApp
import TURN
import XCTest

/// TURN over a TCP client connection: STUN requests and ChannelData share one stream (RFC 8656 §12.5).
final class TURNOverTCPTests: XCTestCase {
    private let key = IntegrityKey.longTerm(username: "alice", realm: "switchboard", password: "alice-password")

    private func startServer() async throws -> RunningServer {
        try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 53_000...53_999
            $0.allowPeers = ["127.0.0.0/8"]
        }
    }

    private func transact(_ connection: StreamSocket, _ method: STUNMethod, _ attributes: [STUNAttribute],
                          nonce: String?) async throws -> STUNMessage {
        try await connection.transact(method, attributes, nonce: nonce, key: key)
    }

    /// Allocate with the challenge; returns the nonce and the relayed address.
    private func allocate(_ connection: StreamSocket) async throws -> (String, TransportAddress) {
        let challenge = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nil)
        XCTAssertEqual(challenge.errorCode?.code, 401)
        let nonce = try XCTUnwrap(challenge.nonce)
        let response = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nonce)
        XCTAssertEqual(response.type.messageClass, .successResponse, "\(String(describing: response.errorCode))")
        XCTAssertTrue(response.verifyIntegrity(.sha1, key: key))
        guard case .xorRelayedAddress(let relay)? = response.attribute(.xorRelayedAddress) else { throw ChannelError.eof }
        return (nonce, relay)
    }

    func testChannelDataIsPaddedOnTheStreamAndRelayedBothWays() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let peer = try await RawUDPSocket()
        let (nonce, relay) = try await allocate(connection)
        let bind = try await transact(connection, .channelBind, [.channelNumber(0x4002), .xorPeerAddress(peer.localAddress)],
                                      nonce: nonce)
        XCTAssertEqual(bind.type.messageClass, .successResponse)

        // Two ChannelData units with odd lengths, padded, in one write, followed by a Binding request.
        var out = ByteBuffer()
        ChannelData.write(channel: 0x4002, data: ByteBuffer(string: "abc"), stream: true, into: &out)
        ChannelData.write(channel: 0x4002, data: ByteBuffer(string: "defgh"), stream: true, into: &out)
        XCTAssertEqual(out.readableBytes, 8 + 12)
        try await connection.send(out)
        let first = try await peer.next()
        let second = try await peer.next()
        XCTAssertEqual(first?.data, ByteBuffer(string: "abc"))
        XCTAssertEqual(second?.data, ByteBuffer(string: "defgh"))
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.xorMappedAddress, connection.localAddress, "STUN and ChannelData interleave on one stream")

        try await peer.send(ByteBuffer(string: "12345"), to: relay)
        let unit = try await connection.nextUnit()
        XCTAssertEqual(unit.map { Array($0.readableBytesView) }, [0x40, 0x02, 0x00, 0x05] + Array("12345".utf8) + [0, 0, 0])

        await peer.close()
        await connection.close()
        try await server.stop()
    }

    func testChannelDataOnABoundChannelGoesOutFromTheConnectionsThreadAndIsCounted() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let peer = try await RawUDPSocket()
        let (nonce, _) = try await allocate(connection)
        let bind = try await transact(connection, .channelBind, [.channelNumber(0x4003), .xorPeerAddress(peer.localAddress)],
                                      nonce: nonce)
        XCTAssertEqual(bind.type.messageClass, .successResponse)
        // The route reaches the connection's thread before the ChannelBind answer does (same loop, queued first).
        var out = ByteBuffer()
        for index in 0..<20 { ChannelData.write(channel: 0x4003, data: ByteBuffer(string: "m\(index)"), stream: true, into: &out) }
        try await connection.send(out)
        for index in 0..<20 {
            let datagram = try await peer.next()
            XCTAssertEqual(datagram?.data, ByteBuffer(string: "m\(index)"), "in order, none lost")
        }
        let counted = await eventually {
            guard let counters = try? await server.service.turnCounters() else { return false }
            return counters.streamRoutedPacketsToPeer == 20 && counters.packetsToPeer == 20
        }
        let counters = try await server.service.turnCounters()
        XCTAssertTrue(counted, "the connection's thread reports what it sent: \(counters)")
        XCTAssertEqual(counters.kernelPacketsToPeer, 0)
        await peer.close()
        await connection.close()
        try await server.stop()
    }

    func testNothingReachesThePeerOnceTheAllocationIsDeletedAndItsPortIsFreed() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let peer = try await RawUDPSocket()
        let (nonce, relay) = try await allocate(connection)
        let bind = try await transact(connection, .channelBind, [.channelNumber(0x4004), .xorPeerAddress(peer.localAddress)],
                                      nonce: nonce)
        XCTAssertEqual(bind.type.messageClass, .successResponse)
        var first = ByteBuffer()
        ChannelData.write(channel: 0x4004, data: ByteBuffer(string: "before"), stream: true, into: &first)
        try await connection.send(first)
        let before = try await peer.next()
        XCTAssertEqual(before?.data, ByteBuffer(string: "before"))

        let deleted = try await transact(connection, .refresh, [.lifetime(0)], nonce: nonce)
        XCTAssertEqual(deleted.type.messageClass, .successResponse)
        var after = ByteBuffer()
        ChannelData.write(channel: 0x4004, data: ByteBuffer(string: "after"), stream: true, into: &after)
        try await connection.send(after)
        let late = try await peer.next(timeout: .milliseconds(300))
        XCTAssertNil(late, "a deleted allocation's route is gone before its Refresh is answered")
        // The connection's thread closed its copy of the relay socket: the port can be bound again.
        var rebound: RawUDPSocket?
        for _ in 0..<50 {
            if let socket = try? await RawUDPSocket(bindingExactly: relay) { rebound = socket; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertNotNil(rebound, "relay port \(relay.port) still bound after the allocation was deleted")
        await rebound?.close()
        await peer.close()
        await connection.close()
        try await server.stop()
    }

    func testClosingTheConnectionDeletesTheAllocation() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let (_, relay) = try await allocate(connection)
        await connection.close()
        var rebound: RawUDPSocket?
        for _ in 0..<50 {
            if let socket = try? await RawUDPSocket(bindingExactly: relay) { rebound = socket; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertNotNil(rebound, "relay port \(relay.port) still bound after the client connection closed")
        await rebound?.close()
        try await server.stop()
    }

    func testTruncatedChannelDataAtTheEndOfTheStreamIsHarmless() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let (_, _) = try await allocate(connection)
        let other = try await StreamSocket(connectingTo: server.address("stun tcp"))
        try await other.send(ByteBuffer(bytes: [0x40, 0x00, 0xFF, 0xFF, 1, 2, 3]))
        await other.close()
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.type.messageClass, .successResponse)
        await connection.close()
        try await server.stop()
    }
}
