import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOCore
import Signaling
import STUN
import SwitchboardApp
import SwitchboardClient
import XCTest

/// The admin listener on real sockets: the token, /metrics after real traffic, rooms and allocations, kick,
/// revoke and drain as clients feel them.
final class AdminAPITests: XCTestCase {
    private func startServer(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningServer {
        try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 55_000...55_999
            $0.allowPeers = ["127.0.0.0/8"]
            configure(&$0)
        }
    }

    private func admin(_ server: RunningServer, _ method: String, _ path: String, token: String? = nil) async throws
        -> (status: Int, body: String, headers: [AnyHashable: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.address("admin").port)\(path)")!)
        request.httpMethod = method
        request.setValue("Bearer \(token ?? server.service.adminToken)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.allHeaderFields)
    }

    private func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// The value of one sample line of the exposition, e.g. `switchboard_turn_allocations{transport="udp"}`.
    private func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private func join(_ server: RunningServer, room: String) async throws -> (RawWebSocket, String, [String: Any]) {
        let socket = try await RawWebSocket.connect(port: Int(server.address("http").port))
        let welcomeFrame = try await socket.next(type: "welcome")
        let welcome = try XCTUnwrap(welcomeFrame)
        try await socket.sendJSON(["type": "join", "room": room])
        let joinedFrame = try await socket.next(type: "joined")
        return (socket, try XCTUnwrap(welcome["session"] as? String), try XCTUnwrap(joinedFrame))
    }

    func testEveryRouteNeedsTheToken() async throws {
        let server = try await startServer()
        for path in ["/metrics", "/admin/rooms", "/admin/allocations"] {
            let refused = try await admin(server, "GET", path, token: "wrong-token-of-some-length")
            XCTAssertEqual(refused.status, 401, path)
            XCTAssertEqual(json(refused.body)["error"] as? String, "unauthorized")
        }
        let kick = try await admin(server, "POST", "/admin/peers/nobody/kick", token: "")
        XCTAssertEqual(kick.status, 401)
        let unknown = try await admin(server, "POST", "/admin/peers/nobody/kick")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(json(unknown.body)["error"] as? String, "unknown-peer")
    }

    func testMetricsCountRealTrafficAndAllocationsAreListed() async throws {
        let server = try await startServer()
        let stun = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
        for _ in 0..<3 {
            _ = try await stun.transact(STUNMessage(type: .bindingRequest), to: server.address("stun udp"))
        }
        await stun.close()
        let turn = TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                              stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
        let allocation = try await turn.allocate()
        let peer = try await RawUDPSocket()
        try await turn.bindChannel(0x4000, to: peer.localAddress)
        for index in 0..<5 { try await turn.send(ByteBuffer(string: "packet \(index)"), onChannel: 0x4000) }
        for _ in 0..<5 { _ = try await peer.next() }

        let metrics = try await admin(server, "GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertEqual(sample(metrics.body, "switchboard_stun_binding_responses_total"), 3)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_allocations{transport="udp"}"#), 1)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_allocations_created_total{relay="udp",transport="udp"}"#), 1)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_relayed_packets_total{direction="to-peer"}"#), 5)
        XCTAssertEqual(sample(metrics.body, "switchboard_turn_channels_bound_total"), 1)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_responses_total{method="allocate",result="401"}"#), 1)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_responses_total{method="allocate",result="success"}"#), 1)
        XCTAssertEqual(sample(metrics.body, #"switchboard_turn_responses_total{method="channel-bind",result="success"}"#), 1)
        XCTAssertNotNil(sample(metrics.body, "process_resident_memory_bytes"))

        let listed = try await admin(server, "GET", "/admin/allocations")
        let allocations = try XCTUnwrap(json(listed.body)["allocations"] as? [[String: Any]])
        XCTAssertEqual(allocations.count, 1)
        XCTAssertEqual(allocations.first?["user"] as? String, "alice")
        XCTAssertEqual(allocations.first?["relays"] as? [String], allocation.relayed.map(\.description))
        XCTAssertEqual(allocations.first?["packetsToPeer"] as? Int, 5)
        XCTAssertEqual(allocations.first?["channels"] as? Int, 1)
        await peer.close()
        await turn.close()
    }

    func testRoomsKickAndSessionBoundCredentials() async throws {
        let server = try await startServer()
        let (alice, aliceID, joined) = try await join(server, room: "studio")
        let (bob, bobID, _) = try await join(server, room: "studio")
        let metrics = try await admin(server, "GET", "/metrics").body
        XCTAssertEqual(sample(metrics, #"switchboard_signaling_frames_in_total{type="join"}"#), 2)
        XCTAssertEqual(sample(metrics, #"switchboard_signaling_frames_out_total{type="joined"}"#), 2)
        XCTAssertEqual(sample(metrics, #"switchboard_signaling_frames_out_total{type="peer-joined"}"#), 1)
        XCTAssertEqual(sample(metrics, "switchboard_signaling_rooms"), 1)
        let rooms = json(try await admin(server, "GET", "/admin/rooms").body)["rooms"] as? [[String: Any]]
        XCTAssertEqual(rooms?.first?["room"] as? String, "studio")
        XCTAssertEqual((rooms?.first?["peers"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [aliceID, bobID])

        // Alice's TURN credentials from `joined` name her session.
        let servers = try XCTUnwrap(joined["iceServers"] as? [[String: Any]])
        let turnEntry = try XCTUnwrap(servers.first { $0["username"] != nil })
        let username = try XCTUnwrap(turnEntry["username"] as? String)
        XCTAssertTrue(username.hasSuffix(":" + aliceID), username)
        let turn = TURNClient(server: server.address("stun udp"), username: username,
                              password: try XCTUnwrap(turnEntry["credential"] as? String),
                              stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
        _ = try await turn.allocate()

        let kicked = try await admin(server, "POST", "/admin/peers/\(aliceID)/kick")
        XCTAssertEqual(kicked.status, 200)
        XCTAssertEqual(json(kicked.body)["allocationsClosed"] as? Int, 1)
        var closeCode: UInt16?
        while let frame = try await alice.next() {
            if case .close(let code, _) = frame { closeCode = code; break }
        }
        XCTAssertEqual(closeCode, 4011)
        let left = try await bob.next(type: "peer-left")
        XCTAssertEqual(left?["peer"] as? String, aliceID)
        // Her credentials died with the session.
        do {
            _ = try await turn.allocate()
            XCTFail("a kicked session's credentials still allocate")
        } catch let error as STUNClientError {
            guard case .errorResponse(let refusal) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(refusal.code, 401)
        }
        await turn.close()
        await bob.drop()
    }

    func testRevokeEndsSessionsAndAllocationsOfTheUser() async throws {
        let server = try await startServer()
        let turn = TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                              stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
        _ = try await turn.allocate()
        let revoked = try await admin(server, "POST", "/admin/users/alice/revoke")
        XCTAssertEqual(json(revoked.body)["allocationsClosed"] as? Int, 1)
        let listed = json(try await admin(server, "GET", "/admin/allocations").body)["allocations"] as? [Any]
        XCTAssertEqual(listed?.count, 0)
        do {
            _ = try await turn.allocate()
            XCTFail("a revoked user still allocates")
        } catch let error as STUNClientError {
            guard case .errorResponse(let refusal) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(refusal.code, 401)
        }
        await turn.close()
    }

    func testDrainRefusesNewSessionsAndAllocationsAndKeepsExistingOnes() async throws {
        let server = try await startServer { $0.alternateServer = TransportAddress("127.0.0.9:3478") }
        let (existing, _, _) = try await join(server, room: "r")
        let drained = try await admin(server, "POST", "/admin/drain")
        XCTAssertEqual(json(drained.body)["draining"] as? Bool, true)

        // A new WebSocket session is refused before the upgrade, so a balancer or the client moves on at once.
        do {
            _ = try await RawWebSocket.connect(port: Int(server.address("http").port))
            XCTFail("a new WebSocket session upgraded while draining")
        } catch RawWebSocketError.handshakeRefused(let head) {
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 503"), head)
            XCTAssertTrue(head.lowercased().contains("content-type: application/json"), head)
        }
        // A resume still upgrades (this token is unknown, so the hub refuses it with its own close code).
        let resume = try await RawWebSocket.connect(port: Int(server.address("http").port), path: "/v1/ws?resume=unknown&last=0")
        var closeCode: UInt16?
        while let frame = try await resume.next() {
            if case .close(let code, _) = frame { closeCode = code; break }
        }
        XCTAssertEqual(closeCode, SignalingCloseReason.resumeFailed.code)
        let poll = try await TestHTTP(port: Int(server.address("http").port)).request("POST", "/v1/poll/session")
        XCTAssertEqual(poll.status, 503)

        let turn = TURNClient(server: server.address("stun udp"), username: "alice", password: "alice-password",
                              stun: try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0)))
        let response = try await turn.request(.allocate, [.requestedTransport(17)])
        XCTAssertEqual(response.errorCode?.code, 300)
        XCTAssertEqual(response.attribute(.alternateServer), .alternateServer(TransportAddress("127.0.0.9:3478")!))
        await turn.close()

        // The session that was there keeps working.
        try await existing.sendJSON(["type": "ping"])
        let pong = try await existing.next(type: "pong")
        XCTAssertNotNil(pong)
        let metrics = try await admin(server, "GET", "/metrics")
        XCTAssertEqual(sample(metrics.body, "switchboard_draining"), 1)
    }
}
