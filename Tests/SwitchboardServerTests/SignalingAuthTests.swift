import Foundation
import JWTKit
import EdgeSupport
import SwitchboardApp
import XCTest

/// Token checks at the handshake: HS256 and ES256, in the URL or in the first frame.
final class SignalingAuthTests: XCTestCase {
    let secret = "signaling-test-secret-of-32-bytes-or-more"

    func testHS256TokenInURLSetsTheUserAndRoomsClaim() async throws {
        let server = try await running { $0.jwtSecret = self.secret }
        let token = try await TestTokens.hs256(secret: secret, user: "alice", rooms: ["allowed"])
        let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws?token=\(token)")
        let welcome = try await socket.next(type: "welcome")
        XCTAssertEqual(welcome?["user"] as? String, "alice")
        try await socket.sendJSON(["type": "join", "room": "allowed"])
        expectNotNil(try await socket.next(type: "joined"))
        try await socket.sendJSON(["type": "join", "room": "other"])
        expectEqual(try await socket.next(type: "error")?["code"] as? String, "forbidden")
        try await server.stop()
    }

    func testTokenInFirstFrame() async throws {
        let server = try await running { $0.jwtSecret = self.secret }
        let token = try await TestTokens.hs256(secret: secret, user: "bob")
        let socket = try await RawWebSocket.connect(port: server.httpPort)
        try await socket.sendJSON(["type": "auth", "token": token])
        expectEqual(try await socket.next(type: "welcome")?["user"] as? String, "bob")
        try await server.stop()
    }

    func testRefusedTokensGetTheirCloseCodes() async throws {
        let server = try await running { $0.jwtSecret = self.secret }
        let wrong = try await TestTokens.hs256(secret: "another-secret-that-is-long-enough-too", user: "mallory")
        let expired = try await TestTokens.hs256(secret: secret, user: "late", expiresIn: -60)
        let cases: [(String, UInt16)] = [("?token=\(wrong)", 4001), ("?token=\(expired)", 4002), ("?token=garbage", 4001)]
        for (query, code) in cases {
            let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws" + query)
            guard case .close(let received, _)? = try await socket.next() else { return XCTFail("no close for \(code)") }
            XCTAssertEqual(received, code)
        }
        let noAuth = try await RawWebSocket.connect(port: server.httpPort)
        try await noAuth.sendJSON(["type": "join", "room": "r"])
        expectEqual(try await noAuth.next(), .close(code: 4000, reason: "bad-request: the first frame must be auth"))
        let status = try await TestHTTP(port: server.httpPort).request("GET", "/v1/ice-servers").status
        XCTAssertEqual(status, 401)
        try await server.stop()
    }

    func testShortSecretIsRefusedAtStart() async throws {
        do {
            let server = try await running { $0.jwtSecret = "short" }
            try await server.stop()
            XCTFail("a 5-byte HS256 secret must be refused")
        } catch let error as ConfigurationError {
            XCTAssertEqual(error.key, "jwt-secret")
        }
    }

    func testES256PublicKey() async throws {
        let key = ES256PrivateKey()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("es256-\(UUID()).pem")
        try key.publicKey.pemRepresentation.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let server = try await running { $0.jwtPublicKeyFile = file.path }
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key)
        let token = try await keys.sign(TestClaims(sub: .init(value: "erin"), exp: .init(value: Date().addingTimeInterval(60))))
        let socket = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws?token=\(token)")
        expectEqual(try await socket.next(type: "welcome")?["user"] as? String, "erin")
        // An HS256 token signed with anything is refused: only the configured key counts.
        let forged = try await TestTokens.hs256(secret: "a-guess-long-enough-for-hs256-keys!", user: "erin")
        let refused = try await RawWebSocket.connect(port: server.httpPort, path: "/v1/ws?token=\(forged)")
        guard case .close(let code, _)? = try await refused.next() else { return XCTFail("expected close") }
        XCTAssertEqual(code, 4001)
        try await server.stop()
    }
}
