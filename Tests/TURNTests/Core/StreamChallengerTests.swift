import NIOCore
import STUN
import TURN
import XCTest

/// The 401 a stream edge answers without the core must be the core's own, and nothing else may be answered there.
final class StreamChallengerTests: XCTestCase {
    private func request(_ method: STUNMethod, _ attributes: [STUNAttribute] = [.requestedTransport(17)],
                         key: IntegrityKey? = nil, algorithm: IntegrityAlgorithm = .sha1) -> STUNMessage {
        let message = STUNMessage(type: STUNMessageType(method: method, messageClass: .request), attributes: attributes)
        return try! STUNMessage(decoding: message.encoded(options: .init(integrityKey: key, integrityAlgorithms: [algorithm],
                                                                          fingerprint: true)))
    }

    func testAnUnauthenticatedAllocateGetsTheCoresChallengeByteForByte() throws {
        let harness = TURNHarness()
        let client = harness.client(transport: .tls)
        let allocate = request(.allocate)
        let fromCore = harness.drive { harness.core.handleClientMessage(allocate, from: client.fiveTuple, into: &$0) }
        let out = try XCTUnwrap(harness.core.streamChallenger.challenge(allocate, from: client.fiveTuple.client))
        XCTAssertEqual(out, try XCTUnwrap(fromCore.first).bytes, "same realm, nonce, algorithms, SOFTWARE and FINGERPRINT")
        let challenge = try STUNMessage(decoding: out)
        XCTAssertEqual(challenge.errorCode?.code, 401)
        XCTAssertEqual(challenge.transactionID, allocate.transactionID)
    }

    func testItsNonceAuthenticatesWithTheCore() throws {
        let harness = TURNHarness()
        let client = harness.client(transport: .tcp)
        let out = try XCTUnwrap(harness.core.streamChallenger.challenge(request(.allocate), from: client.fiveTuple.client))
        let challenge = try STUNMessage(decoding: out)
        client.realm = challenge.realm
        client.nonce = challenge.nonce
        XCTAssertSuccess(client.allocate())
        XCTAssertEqual(harness.core.counters.authenticationFailures, 0, "the core never saw the challenge round")
    }

    func testEverythingElseIsLeftToTheCore() {
        let harness = TURNHarness()
        let challenger = harness.core.streamChallenger
        let client = TransportAddress("127.0.0.1:40000")!
        let key = IntegrityKey.longTerm(username: "alice", realm: "switchboard", password: "alice-password", algorithm: .md5)
        let leftAlone: [(String, STUNMessage)] = [
            ("signed", request(.allocate, [.requestedTransport(17), .username("alice")], key: key)),
            ("signed with SHA-256 only", request(.allocate, [.requestedTransport(17), .username("alice")], key: key,
                                                 algorithm: .sha256)),
            // Left to the core, which authenticates it before its 420 (RFC 8489 §6.3).
            ("an unknown comprehension-required attribute",
             request(.allocate, [.requestedTransport(17), .unknown(type: STUNAttributeType(rawValue: 0x7F01), value: [1, 2, 3, 4])])),
            ("Refresh", request(.refresh, [])),
            ("CreatePermission", request(.createPermission, [])),
            ("an Allocate response", STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .successResponse))),
            ("a Send indication", STUNMessage(type: STUNMessageType(method: .send, messageClass: .indication))),
        ]
        for (what, message) in leftAlone {
            XCTAssertNil(challenger.challenge(message, from: client), what)
        }
    }

    func testChallengesAddToTheCoresFigures() {
        var counters = TURNCounters()
        counters.addChallenges(3)
        counters.addChallenges(0)
        XCTAssertEqual(counters.authenticationFailures, 3)
        XCTAssertEqual(counters.responses["allocate"]?["401"], 3)
    }
}
