import NIOCore
import STUN
import SwitchboardClient
@testable import EdgeSupport
@testable import RelayEdge
@testable import SignalingEdge
@testable import SwitchboardApp
import XCTest

/// Several TURN cores (one per event loop) behind one SO_REUSEPORT address.
final class TURNMultiCoreTests: XCTestCase {
    func testPortSlicesPartitionTheRange() {
        let range: ClosedRange<UInt16> = 49_152...65_535
        let slices = (0..<3).map { RelayServer.portSlice(range, index: $0, of: 3) }
        XCTAssertEqual(slices.first?.lowerBound, 49_152)
        XCTAssertEqual(slices.last?.upperBound, 65_535)
        for (a, b) in zip(slices, slices.dropFirst()) { XCTAssertEqual(Int(a.upperBound) + 1, Int(b.lowerBound)) }
        XCTAssertEqual(slices.map(\.count).reduce(0, +), range.count)
    }

    func testManyClientsRelayThroughTwoCoresAndShareTheUserQuota() async throws {
        let server = try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 52_000...52_999
            $0.allowPeers = ["127.0.0.0/8"]
            $0.turnThreads = 2
            $0.userQuota = 16
        }
        XCTAssertEqual(server.service.turnThreadCount, 2)
        let peer = try await RawUDPSocket()
        var clients: [TURNClient] = []
        for _ in 0..<16 {
            let turn = TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                                  stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
            let allocation = try await turn.allocate()
            XCTAssertTrue((52_000...52_999).contains(try XCTUnwrap(allocation.relayed.first).port))
            try await turn.bindChannel(0x4001, to: peer.localAddress)
            try await turn.send(ByteBuffer(string: "hello"), onChannel: 0x4001)
            let relayed = try await peer.next()
            XCTAssertEqual(relayed?.data, ByteBuffer(string: "hello"))
            if let relayed { try await peer.send(ByteBuffer(string: "back"), to: TransportAddress(relayed.remoteAddress)!) }
            let back = try await turn.nextRelayedData(timeout: .seconds(2))
            XCTAssertEqual(back?.data, ByteBuffer(string: "back"))
            clients.append(turn)
        }
        // SO_REUSEPORT spread 16 clients over both cores (all on one: odds 1 in 32,768), and the quota is shared.
        let perCore = try await server.service.inspect().allocationsPerCore
        XCTAssertEqual(perCore.reduce(0, +), 16)
        XCTAssertTrue(perCore.allSatisfy { $0 > 0 }, "\(perCore)")
        let extra = TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                               stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
        do {
            _ = try await extra.allocate()
            XCTFail("the 17th allocation must exceed the user quota")
        } catch {
            XCTAssertTrue("\(error)".contains("486"), "\(error)")
        }
        expectEqual(try await server.service.inspect().relaySockets, 16)
        for turn in clients { await turn.close() }
        await extra.close()
        await peer.close()
        try await server.stop()
    }
}
