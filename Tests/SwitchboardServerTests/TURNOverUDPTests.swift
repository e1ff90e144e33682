import NIOCore
import NIOPosix
import STUN
import SwitchboardClient
import EdgeSupport
import SwitchboardApp
import XCTest

/// TURN through real sockets on loopback: our TURN client on one side, a raw UDP socket as the peer.
final class TURNOverUDPTests: XCTestCase {
    private func startServer(allowLoopback: Bool = true) async throws -> RunningServer {
        try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.authSecrets = ["test-secret"]
            $0.relayPorts = 52_000...52_999
            if allowLoopback { $0.allowPeers = ["127.0.0.0/8"] }
        }
    }

    private func client(_ server: RunningServer, password: String = "alice-password") async throws -> TURNClient {
        TURNClient(server: server.address("stun udp"), username: "alice", password: password,
                   stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
    }

    func testRelayBothWaysWithIndicationsAndChannels() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        let allocation = try await turn.allocate()
        let relay = try XCTUnwrap(allocation.relayed.first)
        XCTAssertEqual(relay.ip, .ipv4Loopback)
        XCTAssertTrue((52_000...52_999).contains(relay.port))
        XCTAssertEqual(allocation.mapped, turn.localAddress)
        XCTAssertEqual(allocation.lifetime, 600)

        try await turn.createPermission([peer.localAddress])
        try await turn.send(ByteBuffer(string: "via send"), to: peer.localAddress)
        let atPeer = try await peer.next()
        XCTAssertEqual(atPeer?.data, ByteBuffer(string: "via send"))
        XCTAssertEqual(atPeer.map { TransportAddress($0.remoteAddress) }, relay, "sent from the relayed address")

        try await peer.send(ByteBuffer(string: "data indication"), to: relay)
        let viaIndication = try await turn.nextRelayedData(timeout: .seconds(2))
        XCTAssertEqual(viaIndication?.data, ByteBuffer(string: "data indication"))
        XCTAssertEqual(viaIndication?.peer, peer.localAddress)
        XCTAssertNil(viaIndication?.channel)

        try await turn.bindChannel(0x4000, to: peer.localAddress)
        try await turn.send(ByteBuffer(string: "via channel"), onChannel: 0x4000)
        let atPeerAgain = try await peer.next()
        XCTAssertEqual(atPeerAgain?.data, ByteBuffer(string: "via channel"))

        try await peer.send(ByteBuffer(string: "channel data"), to: relay)
        let viaChannel = try await turn.nextRelayedData(timeout: .seconds(2))
        XCTAssertEqual(viaChannel?.data, ByteBuffer(string: "channel data"))
        XCTAssertEqual(viaChannel?.channel, 0x4000)

        await peer.close()
        await turn.close()
        try await server.stop()
    }

    func testPeerWithoutPermissionReachesNobody() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let permitted = try await RawUDPSocket()
        let stranger = try await RawUDPSocket(ip: IPAddress("127.0.0.2")!)
        let allocated = try await turn.allocate()
        let relay = try XCTUnwrap(allocated.relayed.first)
        try await turn.createPermission([permitted.localAddress])
        try await stranger.send(ByteBuffer(string: "let me in"), to: relay)
        let leaked = try await turn.nextRelayedData(timeout: .milliseconds(300))
        XCTAssertNil(leaked)
        try await turn.send(ByteBuffer(string: "nope"), to: stranger.localAddress)
        let atStranger = try await stranger.next(timeout: .milliseconds(300))
        XCTAssertNil(atStranger)
        await permitted.close()
        await stranger.close()
        await turn.close()
        try await server.stop()
    }

    func testLoopbackPeerIsDeniedByDefault() async throws {
        let server = try await startServer(allowLoopback: false)
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        _ = try await turn.allocate()
        do {
            try await turn.createPermission([peer.localAddress])
            XCTFail("a loopback peer must be refused")
        } catch STUNClientError.errorResponse(let error) {
            XCTAssertEqual(error.code, 403)
        }
        await peer.close()
        await turn.close()
        try await server.stop()
    }

    func testWrongPasswordIsRefusedWith401() async throws {
        let server = try await startServer()
        let turn = try await client(server, password: "wrong")
        do {
            _ = try await turn.allocate()
            XCTFail("allocated with a wrong password")
        } catch STUNClientError.errorResponse(let error) {
            XCTAssertEqual(error.code, 401)
        }
        await turn.close()
        try await server.stop()
    }

    func testDeletedAllocationReleasesItsRelaySocket() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let allocated = try await turn.allocate()
        let relay = try XCTUnwrap(allocated.relayed.first)
        let remaining = try await turn.refresh(lifetime: 0)
        XCTAssertEqual(remaining, 0)
        // The port is free again once the edge closed the socket.
        var rebound: RawUDPSocket?
        for _ in 0..<50 {
            if let socket = try? await RawUDPSocket(bindingExactly: relay) { rebound = socket; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertNotNil(rebound, "relay port \(relay.port) still bound after Refresh 0")
        await rebound?.close()
        await turn.close()
        try await server.stop()
    }

    func testGarbageOnTheTURNPortLeavesAllocationsWorking() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        let allocated = try await turn.allocate()
        let relay = try XCTUnwrap(allocated.relayed.first)
        try await turn.bindChannel(0x4001, to: peer.localAddress)
        let attacker = try await RawUDPSocket()
        for bytes: [UInt8] in [[0x40, 0x01, 0x00], [0x40, 0x01, 0xFF, 0xFF, 1], [0x7F, 0xFF, 0x00, 0x00], [0x00, 0x03, 0x00],
                               [0xFF], Array(repeating: 0x41, count: 1500)] {
            try await attacker.send(ByteBuffer(bytes: bytes), to: server.address("stun udp"))
        }
        try await turn.sendRaw(ByteBuffer(bytes: [0x40, 0x01, 0x00, 0x09, 1]))
        try await turn.send(ByteBuffer(string: "still fine"), onChannel: 0x4001)
        let atPeer = try await peer.next()
        XCTAssertEqual(atPeer?.data, ByteBuffer(string: "still fine"))
        XCTAssertEqual(atPeer.map { TransportAddress($0.remoteAddress) }, relay)
        await attacker.close()
        await peer.close()
        await turn.close()
        try await server.stop()
    }
}
