import Foundation
import NIOConcurrencyHelpers
import NIOCore
import STUN
import SwitchboardApp
import SwitchboardClient
import TURN
import XCTest

/// `--kernel-fastpath` in a running server: our TURN client and raw peers on loopback, with the kernel doing the
/// relaying once a channel is bound, and the core's rules holding on the same traffic.
final class TURNKernelFastPathTests: XCTestCase {
    private func startServer() async throws -> RunningServer {
        let server = try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 53_000...53_999
            $0.allowPeers = ["127.0.0.0/8"]
            $0.denyPeers = ["127.0.0.3/32"]
            $0.kernelFastPath = true
        }
        XCTAssertNotNil(server.service.kernelFastPath, "the fast path loads here (root, Linux 6.6+, libbpf1)")
        return server
    }

    private func client(_ server: RunningServer) async throws -> TURNClient {
        TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                   stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
    }

    private static func counters(_ server: RunningServer) async throws -> TURNCounters {
        try await server.service.turnCounters()
    }

    func testBoundChannelIsRelayedByTheKernelAndCountedByTheCore() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        let allocation = try await turn.allocate()
        let relay = try XCTUnwrap(allocation.relayed.first)
        try await turn.bindChannel(0x4000, to: peer.localAddress)
        for index in 0..<20 {
            try await turn.send(ByteBuffer(string: "up \(index)"), onChannel: 0x4000)
            let atPeer = try await peer.next()
            XCTAssertEqual(atPeer?.data, ByteBuffer(string: "up \(index)"))
            XCTAssertEqual(atPeer.map { TransportAddress($0.remoteAddress) }, relay)
            try await peer.send(ByteBuffer(string: "down \(index)"), to: relay)
            let atClient = try await turn.nextRelayedData(timeout: .seconds(2))
            XCTAssertEqual(atClient?.data, ByteBuffer(string: "down \(index)"))
            XCTAssertEqual(atClient?.channel, 0x4000)
        }
        // The edge reads the kernel's counters each second: every relayed packet is the kernel's.
        let counted = try await eventually {
            let counters = try await Self.counters(server)
            return counters.kernelPacketsToPeer == 20 && counters.kernelPacketsToClient == 20
        }
        XCTAssertTrue(counted)
        let counters = try await Self.counters(server)
        XCTAssertEqual(counters.packetsToPeer, 20, "nothing went through user space as well")
        XCTAssertEqual(counters.packetsToClient, 20)
        XCTAssertEqual(counters.bytesToPeer, (0..<20).map { "up \($0)".utf8.count }.reduce(0, +))
        await peer.close()
        await turn.close()
    }

    func testPeersWithoutPermissionAndDeniedPeersGetNothingThrough() async throws {
        let server = try await startServer()
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        let stranger = try await RawUDPSocket(ip: IPAddress("127.0.0.2")!)
        let denied = try await RawUDPSocket(ip: IPAddress("127.0.0.3")!)
        let allocation = try await turn.allocate()
        let relay = try XCTUnwrap(allocation.relayed.first)
        try await turn.bindChannel(0x4000, to: peer.localAddress)
        do {
            try await turn.bindChannel(0x4001, to: denied.localAddress)
            XCTFail("a denied peer must be refused")
        } catch STUNClientError.errorResponse(let error) {
            XCTAssertEqual(error.code, 403)
        }
        for source in [stranger, denied] {
            try await source.send(ByteBuffer(string: "let me in"), to: relay)
        }
        let leaked = try await turn.nextRelayedData(timeout: .milliseconds(300))
        XCTAssertNil(leaked)
        // The permitted peer still gets through, by the kernel.
        try await peer.send(ByteBuffer(string: "hello"), to: relay)
        let delivered = try await turn.nextRelayedData(timeout: .seconds(2))
        XCTAssertEqual(delivered?.data, ByteBuffer(string: "hello"))
        let dropped = try await eventually { try await Self.counters(server).packetsDropped >= 2 }
        XCTAssertTrue(dropped, "user space saw and dropped the two")
        for socket in [peer, stranger, denied] { await socket.close() }
        await turn.close()
    }

    func testDeallocationTakesTheRouteOutAndCountsItsTraffic() async throws {
        let recorder = ClosedAllocationRecorder()
        let server = try await running(eventConsumers: [recorder.consume]) {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 53_000...53_999
            $0.allowPeers = ["127.0.0.0/8"]
            $0.kernelFastPath = true
        }
        let turn = try await client(server)
        let peer = try await RawUDPSocket()
        let allocation = try await turn.allocate()
        let relay = try XCTUnwrap(allocation.relayed.first)
        try await turn.bindChannel(0x4000, to: peer.localAddress)
        try await peer.send(ByteBuffer(string: "12345"), to: relay)
        _ = try await turn.nextRelayedData(timeout: .seconds(2))
        _ = try await turn.refresh(lifetime: 0)
        let closed = await eventually { recorder.closedTraffic != nil }
        XCTAssertTrue(closed)
        XCTAssertEqual(recorder.closedTraffic?.packetsToClient, 1, "the kernel's packet, in allocation.closed")
        XCTAssertEqual(recorder.closedTraffic?.bytesToClient, 5)
        try await peer.send(ByteBuffer(string: "late"), to: relay)
        let late = try await turn.nextRelayedData(timeout: .milliseconds(300))
        XCTAssertNil(late, "nothing forwards for an allocation that is gone")
        await peer.close()
        await turn.close()
    }
}
