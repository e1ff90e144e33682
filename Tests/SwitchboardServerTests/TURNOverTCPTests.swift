#if canImport(Glibc)
import Glibc
#endif
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
                          nonce: String?, timeout: TimeAmount = .seconds(2)) async throws -> STUNMessage {
        try await connection.transact(method, attributes, nonce: nonce, key: key, timeout: timeout)
    }

    /// Allocate with the challenge; returns the nonce and the relayed address.
    private func allocate(_ connection: StreamSocket, timeout: TimeAmount = .seconds(2)) async throws
        -> (String, TransportAddress) {
        let challenge = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nil, timeout: timeout)
        XCTAssertEqual(challenge.errorCode?.code, 401)
        let nonce = try XCTUnwrap(challenge.nonce)
        let response = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nonce,
                                          timeout: timeout)
        XCTAssertEqual(response.type.messageClass, .successResponse, "\(String(describing: response.errorCode))")
        XCTAssertTrue(response.verifyIntegrity(.sha1, key: key))
        guard case .xorRelayedAddress(let relay)? = response.attribute(.xorRelayedAddress) else { throw ChannelError.eof }
        return (nonce, relay)
    }

    /// A TCP client with an allocation and `channel` bound to a UDP peer of its own.
    private func boundChannel(_ channel: UInt16, on server: RunningServer) async throws
        -> (connection: StreamSocket, peer: RawUDPSocket, nonce: String, relay: TransportAddress) {
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        let peer = try await RawUDPSocket()
        let (nonce, relay) = try await allocate(connection)
        let bind = try await transact(connection, .channelBind, [.channelNumber(channel), .xorPeerAddress(peer.localAddress)],
                                      nonce: nonce)
        XCTAssertEqual(bind.type.messageClass, .successResponse)
        return (connection, peer, nonce, relay)
    }

    /// ChannelData units on `channel`, framed for a stream, back to back.
    private func channelData(_ channel: UInt16, _ payloads: [String]) -> ByteBuffer {
        var out = ByteBuffer()
        for payload in payloads { ChannelData.write(channel: channel, data: ByteBuffer(string: payload), stream: true, into: &out) }
        return out
    }

    /// Binds `relay`'s port for ourselves once the server has let it go (within a second); nil if it never does.
    private func rebind(_ relay: TransportAddress) async throws -> RawUDPSocket? {
        for _ in 0..<50 {
            if let socket = try? await RawUDPSocket(bindingExactly: relay) { return socket }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func testChannelDataIsPaddedOnTheStreamAndRelayedBothWays() async throws {
        let server = try await startServer()
        let (connection, peer, _, relay) = try await boundChannel(0x4002, on: server)

        // Two ChannelData units with odd lengths, padded, in one write, followed by a Binding request.
        let out = channelData(0x4002, ["abc", "defgh"])
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

    /// The challenge round is answered on the connection's thread (`StreamChallenger`) and counted as the core
    /// would count it; the authenticated Allocate goes to the core.
    func testTheChallengeIsAnsweredOnTheConnectionsThreadAndCountedAsTheCores() async throws {
        let server = try await startServer()
        let connection = try await StreamSocket(connectingTo: server.address("stun tcp"))
        _ = try await allocate(connection)
        let counters = try await server.service.turnCounters()
        XCTAssertEqual(counters.authenticationFailures, 1)
        XCTAssertEqual(counters.responses["allocate"]?["401"], 1)
        XCTAssertEqual(counters.responses["allocate"]?["success"], 1)
        let coreSaw = try await server.service.withTURNCore { $0.counters.authenticationFailures }
        XCTAssertEqual(coreSaw, 0, "the core answered no challenge")
        await connection.close()
        try await server.stop()
    }

    /// A client that pipelines unauthenticated Allocates and never reads: once its connection stops draining, the
    /// challenges answered on its thread are dropped and counted, not queued without bound, and others are served.
    func testChallengesToAClientThatNeverReadsAreDroppedNotQueued() async throws {
        let server = try await startServer()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = server.address("stun tcp").port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        // Each answer is several times its request: 60,000 of them outgrow the kernel's send buffer (at most 4 MiB
        // here) and SwiftNIO's high-water mark many times over.
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                  attributes: [.requestedTransport(17)]).encoded()
        var batch: [UInt8] = []
        for _ in 0..<1_000 { batch += request.readableBytesView }
        for _ in 0..<60 {
            var sent = 0
            while sent < batch.count {
                let written = batch[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                XCTAssertGreaterThan(written, 0)
                guard written > 0 else { return }
                sent += written
            }
        }
        let dropped = await eventually(within: 20) {
            ((try? await server.service.inspect())?.stun.dropped ?? 0) > 0
        }
        XCTAssertTrue(dropped, "answers beyond the connection's buffers are dropped")
        // Served, though perhaps not at once: when the other client shares the flooding one's thread, the thread takes
        // turns between them, and the flood's backlog still fills its turns (seconds of them in a debug build on a
        // busy machine).
        let other = try await StreamSocket(connectingTo: server.address("stun tcp"))
        _ = try await allocate(other, timeout: .seconds(20))
        await other.close()
        try await server.stop()
    }

    func testChannelDataOnABoundChannelGoesOutFromTheConnectionsThreadAndIsCounted() async throws {
        let server = try await startServer()
        let (connection, peer, _, _) = try await boundChannel(0x4003, on: server)
        // The route reaches the connection's thread before the ChannelBind answer does (same loop, queued first).
        try await connection.send(channelData(0x4003, (0..<20).map { "m\($0)" }))
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
        let (connection, peer, nonce, relay) = try await boundChannel(0x4004, on: server)
        try await connection.send(channelData(0x4004, ["before"]))
        let before = try await peer.next()
        XCTAssertEqual(before?.data, ByteBuffer(string: "before"))

        let deleted = try await transact(connection, .refresh, [.lifetime(0)], nonce: nonce)
        XCTAssertEqual(deleted.type.messageClass, .successResponse)
        try await connection.send(channelData(0x4004, ["after"]))
        let late = try await peer.next(timeout: .milliseconds(300))
        XCTAssertNil(late, "a deleted allocation's route is gone before its Refresh is answered")
        // The connection's thread closed its copy of the relay socket: the port can be bound again.
        let rebound = try await rebind(relay)
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
        let rebound = try await rebind(relay)
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
