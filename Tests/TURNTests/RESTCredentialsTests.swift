import Foundation
import STUN
import TURN
import XCTest

final class RESTCredentialsTests: XCTestCase {
    // Vectors from python3:
    //   base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest())
    private let alicePassword = "B4h6iVPKLBEfsWdDRuUeZl3vUbo="          // north-wind-secret, 1700086400:alice
    private let aliceRotatedPassword = "XbA3dX/l0fGajqfR7cXjofyQZWc="   // rotated-secret, 1700086400:alice
    private let anonymousPassword = "Hjy6k68Xu2fpx0mDR8WUaB2dQq4="      // north-wind-secret, 1700086400
    private let now: Int64 = 1_700_000_000

    func testPasswordIsBase64OfHMACSHA1OfTheUsername() {
        XCTAssertEqual(RESTCredential.password(secret: "north-wind-secret", username: "1700086400:alice"), alicePassword)
        XCTAssertEqual(RESTCredential.password(secret: "rotated-secret", username: "1700086400:alice"), aliceRotatedPassword)
        XCTAssertEqual(RESTCredential.password(secret: "north-wind-secret", username: "1700086400"), anonymousPassword)
    }

    func testGenerateWithUserMakesExpiryColonUser() {
        let credential = RESTCredential.generate(secret: "north-wind-secret", user: "alice", ttl: 86_400, unixTime: now)
        XCTAssertEqual(credential, RESTCredential(username: "1700086400:alice", password: alicePassword, ttl: 86_400))
    }

    func testGenerateWithoutUserMakesExpiryOnly() {
        let credential = RESTCredential.generate(secret: "north-wind-secret", user: nil, ttl: 86_400, unixTime: now)
        XCTAssertEqual(credential, RESTCredential(username: "1700086400", password: anonymousPassword, ttl: 86_400))
        XCTAssertEqual(RESTCredential.generate(secret: "north-wind-secret", user: "", ttl: 86_400, unixTime: now), credential)
    }

    func testAbsurdTTLSaturatesInsteadOfTrapping() {
        let credential = RESTCredential.generate(secret: "s", user: "alice", ttl: .max, unixTime: now)
        XCTAssertEqual(credential.username, "\(Int64.max):alice")
    }

    func testCredentialEncodesWithTheThreeFieldsAndRoundTrips() throws {
        let credential = RESTCredential(username: "1700086400:alice", password: alicePassword, ttl: 86_400)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(credential), as: UTF8.self)
        XCTAssertEqual(json, #"{"password":"B4h6iVPKLBEfsWdDRuUeZl3vUbo=","ttl":86400,"username":"1700086400:alice"}"#)
        XCTAssertEqual(try JSONDecoder().decode(RESTCredential.self, from: Data(json.utf8)), credential)
    }

    func testUnexpiredUsernameGetsTheLongTermKeyOfTheDerivedPassword() {
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "switchboard", algorithm: .md5, unixTime: now),
                       [.longTerm(username: "1700086400:alice", realm: "switchboard", password: alicePassword)])
        // hashlib.md5(b"1700086400:alice:switchboard:" + password).hexdigest()
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "switchboard", algorithm: .md5, unixTime: now).first?.bytes,
                       Array(hex: "0f79f912dfe37941f7b675a581b381db"))
    }

    func testSHA256AlgorithmIsHonoured() {
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "switchboard", algorithm: .sha256, unixTime: now),
                       [.longTerm(username: "1700086400:alice", realm: "switchboard", password: alicePassword, algorithm: .sha256)])
    }

    func testExpiryOnlyUsernameIsAccepted() {
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        XCTAssertEqual(store.keys(username: "1700086400", realm: "switchboard", algorithm: .md5, unixTime: now),
                       [.longTerm(username: "1700086400", realm: "switchboard", password: anonymousPassword)])
    }

    func testOneKeyPerSecretForRotation() {
        let store = RESTCredentials(secrets: ["rotated-secret", "north-wind-secret"])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "switchboard", algorithm: .md5, unixTime: now), [
            .longTerm(username: "1700086400:alice", realm: "switchboard", password: aliceRotatedPassword),
            .longTerm(username: "1700086400:alice", realm: "switchboard", password: alicePassword),
        ])
    }

    func testCredentialStopsWorkingAtItsExpiry() {
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "r", algorithm: .md5, unixTime: 1_700_086_399).count, 1)
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "r", algorithm: .md5, unixTime: 1_700_086_400), [])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "r", algorithm: .md5, unixTime: 1_800_000_000), [])
    }

    func testUsernamesWithoutAnIntegerExpiryGetNoKeys() {
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        for username in ["alice", "alice:1700086400", "", ":alice", "+1700086400:alice", "-1:alice", " 1700086400:alice",
                         "1700086400.5:alice", "0x65569f00:alice", "99999999999999999999:alice"] {
            XCTAssertEqual(store.keys(username: username, realm: "r", algorithm: .md5, unixTime: now), [], username)
        }
    }

    func testUserPartMayItselfContainColons() {
        let store = RESTCredentials(secrets: ["s"])
        XCTAssertEqual(store.keys(username: "1700086400:room:alice", realm: "r", algorithm: .md5, unixTime: now),
                       [.longTerm(username: "1700086400:room:alice", realm: "r",
                                  password: RESTCredential.password(secret: "s", username: "1700086400:room:alice"))])
    }

    func testNoSecretsMeansNoKeys() {
        XCTAssertEqual(RESTCredentials(secrets: []).keys(username: "1700086400:alice", realm: "r", algorithm: .md5, unixTime: now), [])
    }

    func testGeneratedCredentialIsAcceptedUntilItsTTLRunsOut() {
        let credential = RESTCredential.generate(secret: "north-wind-secret", user: "carol", ttl: 600, unixTime: now)
        let store = RESTCredentials(secrets: ["north-wind-secret"])
        let expected = IntegrityKey.longTerm(username: credential.username, realm: "r", password: credential.password)
        XCTAssertEqual(store.keys(username: credential.username, realm: "r", algorithm: .md5, unixTime: now + 599), [expected])
        XCTAssertEqual(store.keys(username: credential.username, realm: "r", algorithm: .md5, unixTime: now + 600), [])
    }

    func testUserhashCannotBeReversed() {
        XCTAssertNil(RESTCredentials(secrets: ["s"]).username(userhash: [UInt8](repeating: 1, count: 32), realm: "r"))
    }
}
