import Crypto
import NIOCore
import STUN
import TURN
import XCTest

final class AuthenticationTests: XCTestCase {
    func testWrongPasswordIs401WithAFreshChallengeAndNoAllocation() {
        let harness = TURNHarness()
        let client = harness.client(password: "not-it")
        let response = client.allocate()
        XCTAssertError(response, 401)
        XCTAssertNotNil(response?.nonce)
        XCTAssertNil(response?.attribute(.messageIntegrity), "nothing to sign a refusal with")
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.core.counters.authenticationFailures, 2, "the first challenge and the bad password")
    }

    func testUnknownUserIs401() {
        XCTAssertError(TURNHarness().client(username: "mallory", password: "x").allocate(), 401)
    }

    func testWrongRealmIs401AndAnnouncesTheRightOne() {
        let harness = TURNHarness()
        let client = harness.client()
        client.unauthenticated(.allocate, [.requestedTransport(17)])
        client.realm = "elsewhere"
        let response = client.allocate()
        XCTAssertError(response, 401)
        XCTAssertEqual(response?.realm, "switchboard")
        XCTAssertEqual(harness.core.allocationCount, 0)
    }

    func testMissingNonceIs400() {
        let harness = TURNHarness()
        let client = harness.client()
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                  attributes: [.requestedTransport(17), .username("alice"), .realm("switchboard")])
        let response = client.sendRaw(request.encoded(options: .init(integrityKey: client.key, fingerprint: true)))
        XCTAssertError(response.first, 400)
    }

    func testExpiredNonceIs438WithANewNonceThatThenWorks() {
        let harness = TURNHarness { $0.nonceLifetime = 60 }
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        let oldNonce = client.nonce
        harness.clock.advance(seconds: 61)
        let stale = client.refresh()
        XCTAssertError(stale, 438)
        XCTAssertNotNil(stale?.nonce)
        XCTAssertNotEqual(stale?.nonce, oldNonce)
        XCTAssertEqual(stale?.realm, "switchboard")
        XCTAssertSuccess(client.refresh(), "retried with the fresh nonce")
    }

    func testReplayedNonceAfterExpiryIs438() {
        let harness = TURNHarness { $0.nonceLifetime = 60 }
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        let replayed = client.nonce
        harness.clock.advance(seconds: 120)
        let other = harness.client("127.0.0.1:40001")
        other.unauthenticated(.allocate, [.requestedTransport(17)])
        other.realm = "switchboard"
        other.nonce = replayed
        XCTAssertError(other.allocate(), 438)
    }

    func testNonceIssuedToAnotherHostIsNotAcceptedButAnotherPortOfTheSameHostIs() {
        let harness = TURNHarness()
        let first = harness.client("127.0.0.1:1")
        XCTAssertSuccess(first.allocate())
        let second = harness.client("127.0.0.2:2")
        second.realm = "switchboard"
        second.nonce = first.nonce
        XCTAssertError(second.allocate(), 438)
        XCTAssertSuccess(second.allocate(), "after learning its own nonce")
        // An RFC 6062 data connection comes from a new port with the control connection's nonce.
        let samehost = harness.client("127.0.0.1:3")
        samehost.realm = "switchboard"
        samehost.nonce = first.nonce
        XCTAssertSuccess(samehost.allocate())
    }

    func testMessageIntegritySHA256IsAnsweredWithSHA256() {
        let harness = TURNHarness()
        let client = harness.client()
        client.integrity = .sha256
        let response = client.allocate()
        XCTAssertSuccess(response)
        XCTAssertNotNil(response?.attribute(.messageIntegritySHA256))
        XCTAssertNil(response?.attribute(.messageIntegrity))
        XCTAssertTrue(response?.verifyIntegrity(.sha256, key: client.key) ?? false)
    }

    func testSHA256PasswordAlgorithmNegotiation() {
        let harness = TURNHarness()
        let client = harness.client()
        client.passwordAlgorithm = .sha256
        client.integrity = .sha256
        let response = client.allocate()
        XCTAssertSuccess(response)
        XCTAssertTrue(response?.verifyIntegrity(.sha256, key: client.key) ?? false)
    }

    func testPasswordAlgorithmsThatDoNotMatchTheServersAre400() {
        let harness = TURNHarness()
        let client = harness.client()
        client.unauthenticated(.allocate, [.requestedTransport(17)])
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request), attributes: [
            .requestedTransport(17), .username("alice"), .realm("switchboard"), .nonce(client.nonce!),
            .passwordAlgorithms([.md5]), .passwordAlgorithm(.md5),
        ])
        XCTAssertError(client.sendRaw(request.encoded(options: .init(integrityKey: client.key, fingerprint: true))).first, 400)
    }

    func testUserhashInsteadOfUsername() {
        let harness = TURNHarness()
        let client = harness.client()
        client.unauthenticated(.allocate, [.requestedTransport(17)])
        let userhash = Array(SHA256.hash(data: Array("alice:switchboard".utf8)))
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request), attributes: [
            .requestedTransport(17), .userhash(userhash), .realm("switchboard"), .nonce(client.nonce!),
        ])
        let response = client.sendRaw(request.encoded(options: .init(integrityKey: client.key, fingerprint: true))).first
        XCTAssertSuccess(response)
        XCTAssertEqual(harness.core.allocationCount, 1)
    }

    func testRESTCredentialWorksUntilItsExpiry() {
        let harness = TURNHarness()
        let credential = RESTCredential.generate(secret: "rest-secret", user: "carol", ttl: 300,
                                                 unixTime: harness.clock.unixSeconds())
        let client = harness.client(username: credential.username, password: credential.password)
        XCTAssertSuccess(client.allocate())
        harness.clock.advance(seconds: 301)
        XCTAssertError(client.refresh(), 401, "an expired REST username no longer authenticates")
    }

    func testRESTCredentialFromAnotherSecretIs401() {
        let harness = TURNHarness()
        let credential = RESTCredential.generate(secret: "other-secret", user: "carol", ttl: 300,
                                                 unixTime: harness.clock.unixSeconds())
        XCTAssertError(harness.client(username: credential.username, password: credential.password).allocate(), 401)
    }

    func testAnotherUsersRequestOnAnExistingAllocationIs441() {
        let harness = TURNHarness()
        let alice = harness.client()
        XCTAssertSuccess(alice.allocate())
        let bob = harness.client(username: "bob", password: "bob-password")
        XCTAssertError(bob.refresh(), 441)
        XCTAssertError(bob.createPermission(TransportAddress("127.0.0.1:9")!), 441)
        XCTAssertSuccess(alice.refresh(), "the owner is unaffected")
    }

    func testTamperedRequestFailsIntegrity() {
        let harness = TURNHarness()
        let client = harness.client()
        var bytes = client.signed(.allocate, [.requestedTransport(17), .lifetime(600)])
        // Flip a bit inside LIFETIME's value (after the 20-byte header and REQUESTED-TRANSPORT's 8 bytes).
        let index = bytes.readerIndex + 20 + 8 + 4 + 3
        bytes.setInteger(bytes.getInteger(at: index, as: UInt8.self)! ^ 1, at: index)
        // Recompute nothing: the FINGERPRINT is now wrong too, so decode without checking it.
        let message = try! STUNMessage(decoding: bytes, options: .init(verifyFingerprint: false))
        let replies = harness.drive { harness.core.handleClientMessage(message, from: client.fiveTuple, into: &$0) }
        XCTAssertError(replies.first.flatMap { try? STUNMessage(decoding: $0.bytes) }, 401)
        XCTAssertEqual(harness.core.allocationCount, 0)
    }
}
