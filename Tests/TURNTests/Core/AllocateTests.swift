import NIOCore
import STUN
import TURN
import XCTest

final class AllocateTests: XCTestCase {
    func testFirstAllocateIsChallengedWithRealmNonceAndPasswordAlgorithms() {
        let harness = TURNHarness()
        let response = harness.client().unauthenticated(.allocate, [.requestedTransport(17)])
        XCTAssertError(response, 401)
        XCTAssertEqual(response?.realm, "switchboard")
        XCTAssertNotNil(response?.nonce)
        guard case .passwordAlgorithms(let algorithms)? = response?.attribute(.passwordAlgorithms) else {
            return XCTFail("no PASSWORD-ALGORITHMS")
        }
        XCTAssertEqual(algorithms, [.sha256, .md5])
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertTrue(harness.opened.isEmpty)
    }

    func testAuthenticatedAllocateReturnsRelayedAndMappedAddressesSignedWithTheUserKey() {
        let harness = TURNHarness()
        let client = harness.client()
        let response = client.allocate()
        XCTAssertSuccess(response)
        XCTAssertEqual(response?.relayedAddresses.count, 1)
        let relay = response?.relayedAddresses.first
        XCTAssertEqual(relay?.ip, IPAddress("127.0.0.1"))
        XCTAssertTrue((50_000...50_999).contains(relay?.port ?? 0))
        XCTAssertEqual(response?.lifetime, 600)
        XCTAssertEqual(response?.xorMappedAddress, client.fiveTuple.client)
        XCTAssertEqual(response?.software, "Switchboard")
        XCTAssertTrue(response?.verifyIntegrity(.sha1, key: client.key) ?? false)
        XCTAssertNotNil(response?.fingerprint)
        XCTAssertEqual(harness.opened, [relay].compactMap { $0 })
        XCTAssertEqual(harness.core.allocationCount, 1)
    }

    func testLifetimeIsRaisedToTheDefaultAndCappedAtTheMaximum() {
        let harness = TURNHarness { $0.maximumLifetime = 1800 }
        XCTAssertEqual(harness.client("127.0.0.1:1").allocate([.lifetime(60)])?.lifetime, 600)
        XCTAssertEqual(harness.client("127.0.0.1:2").allocate([.lifetime(1200)])?.lifetime, 1200)
        XCTAssertEqual(harness.client("127.0.0.1:3").allocate([.lifetime(86_400)])?.lifetime, 1800)
    }

    func testMissingRequestedTransportIs400() {
        let client = TURNHarness().client()
        XCTAssertError(client.request(.allocate, []), 400)
    }

    func testTCPRelayOverUDPIs400AndAnUnknownTransport442() {
        let harness = TURNHarness()
        XCTAssertError(harness.client().request(.allocate, [.requestedTransport(6)]), 400, "RFC 6062 §5.1")
        XCTAssertError(harness.client().request(.allocate, [.requestedTransport(132)]), 442)
        XCTAssertEqual(harness.core.allocationCount, 0)
    }

    func testSecondAllocateOnTheSameFiveTupleIs437() {
        let harness = TURNHarness()
        let client = harness.client()
        XCTAssertSuccess(client.allocate())
        XCTAssertError(client.allocate(), 437)
        XCTAssertEqual(harness.core.allocationCount, 1)
        XCTAssertEqual(harness.opened.count, 1)
    }

    func testRetransmittedAllocateGetsTheSameAnswerWithoutASecondRelay() {
        let harness = TURNHarness()
        let client = harness.client()
        let bytes = client.signed(.allocate, [.requestedTransport(17)])
        let challenges = harness.sentToClients.count
        let first = client.sendRaw(bytes)
        let second = client.sendRaw(bytes)
        XCTAssertEqual(first.count, 1)
        XCTAssertEqual(second.count, 1)
        XCTAssertSuccess(first.first)
        XCTAssertEqual(first.first?.relayedAddresses, second.first?.relayedAddresses)
        let answers = harness.sentToClients.dropFirst(challenges).map(\.bytes)
        XCTAssertEqual(answers.count, 2)
        XCTAssertEqual(answers.first, answers.last, "byte-identical answer")
        XCTAssertEqual(harness.opened.count, 1)
        XCTAssertEqual(harness.core.counters.allocationsCreated, 1)
    }

    func testUnknownComprehensionRequiredAttributeIs420WithUnknownAttributes() {
        let harness = TURNHarness()
        let unknown = STUNAttributeType(rawValue: 0x7F01)
        let response = harness.client().request(.allocate, [.requestedTransport(17), .unknown(type: unknown, value: [1, 2, 3, 4])])
        XCTAssertError(response, 420)
        guard case .unknownAttributes(let types)? = response?.attribute(.unknownAttributes) else {
            return XCTFail("no UNKNOWN-ATTRIBUTES")
        }
        XCTAssertEqual(types, [unknown])
        XCTAssertTrue(response?.verifyIntegrity(.sha1, key: harness.client().key) ?? false,
                      "a signed request gets a signed 420 (RFC 8489 §6.3: after authentication)")
        XCTAssertEqual(harness.core.allocationCount, 0)
    }

    func testUnknownComprehensionRequiredAttributeInAnUnsignedRequestIsChallengedFirst() {
        let harness = TURNHarness()
        let unknown = STUNAttributeType(rawValue: 0x7F01)
        let response = harness.client("127.0.0.1:40001").unauthenticated(.refresh, [.unknown(type: unknown, value: [1, 2, 3, 4])])
        XCTAssertError(response, 401)
    }

    func testUnknownComprehensionOptionalAttributeIsIgnored() {
        let harness = TURNHarness()
        XCTAssertSuccess(harness.client().allocate([.unknown(type: STUNAttributeType(rawValue: 0xC0DE), value: [9])]))
    }

    func testAllocationsPerUserQuotaIs486AndOtherUsersAreUnaffected() {
        let harness = TURNHarness { $0.maxAllocationsPerUser = 3 }
        for port in 1...3 { XCTAssertSuccess(harness.client("127.0.0.1:\(port)").allocate()) }
        XCTAssertError(harness.client("127.0.0.1:4").allocate(), 486)
        XCTAssertError(harness.client("127.0.0.1:5").allocate(), 486)
        XCTAssertSuccess(harness.client("127.0.0.1:6", username: "bob", password: "bob-password").allocate())
        XCTAssertEqual(harness.core.allocationCount, 4)
    }

    /// A web app hands out a fresh REST credential (`EXPIRY:USER`) on every request: the quota counts USER.
    func testRESTCredentialsOfOneUserShareTheUserQuota() {
        let harness = TURNHarness { $0.maxAllocationsPerUser = 2 }
        func client(_ port: Int, user: String, ttl: Int) -> TURNTestClient {
            let credential = RESTCredential.generate(secret: "rest-secret", user: user, ttl: ttl, unixTime: harness.clock.unixSeconds())
            return harness.client("127.0.0.1:\(port)", username: credential.username, password: credential.password)
        }
        XCTAssertSuccess(client(1, user: "carol", ttl: 600).allocate())
        XCTAssertSuccess(client(2, user: "carol", ttl: 601).allocate())
        XCTAssertError(client(3, user: "carol", ttl: 602).allocate(), 486)
        XCTAssertSuccess(client(4, user: "dave", ttl: 600).allocate())
        XCTAssertEqual(QuotaUser.of("1800000600:carol"), "carol")
        XCTAssertEqual(QuotaUser.of("1800000600"), "1800000600")
        XCTAssertEqual(QuotaUser.of("alice"), "alice")
        XCTAssertEqual(QuotaUser.of("x1:alice"), "x1:alice")
    }

    func testQuotaFreesUpWhenAnAllocationIsDeleted() {
        let harness = TURNHarness { $0.maxAllocationsPerUser = 1 }
        let first = harness.client("127.0.0.1:1")
        XCTAssertSuccess(first.allocate())
        XCTAssertError(harness.client("127.0.0.1:2").allocate(), 486)
        XCTAssertSuccess(first.refresh(0))
        XCTAssertSuccess(harness.client("127.0.0.1:3").allocate())
    }

    func testTotalAllocationLimitIs508() {
        let harness = TURNHarness { $0.maxAllocations = 2 }
        XCTAssertSuccess(harness.client("127.0.0.1:1").allocate())
        XCTAssertSuccess(harness.client("127.0.0.1:2", username: "bob", password: "bob-password").allocate())
        XCTAssertError(harness.client("127.0.0.1:3").allocate(), 508)
    }

    func testExhaustedRelayPortRangeIs508() {
        let harness = TURNHarness { $0.relayPorts = 50_000...50_003 }
        for port in 1...4 { XCTAssertSuccess(harness.client("127.0.0.1:\(port)").allocate()) }
        XCTAssertError(harness.client("127.0.0.1:5").allocate(), 508)
        XCTAssertEqual(Set(harness.opened.map(\.port)), [50_000, 50_001, 50_002, 50_003])
    }

    func testRelayPortThatCannotBeBoundIsReplacedByAnother() {
        let harness = TURNHarness()
        harness.failingOpens = 2
        let response = harness.client().allocate()
        XCTAssertSuccess(response)
        XCTAssertEqual(harness.opened.count, 1)
        XCTAssertEqual(response?.relayedAddresses, harness.opened)
    }

    /// RFC 8656 §7.2: the stand-in for an EVEN-PORT relay that could not be bound is even too; a reserved port has
    /// no stand-in at all.
    func testAReplacedRelayPortKeepsToEvenPortAndAReservationHasNone() {
        let harness = TURNHarness()
        for attempt in 0..<4 {
            harness.failingOpens = 1
            let response = harness.client("127.0.0.1:\(40_100 + attempt)").allocate([.evenPort(reserveNext: false)])
            XCTAssertSuccess(response)
            let port = try! XCTUnwrap(response?.relayedAddresses.first?.port)
            XCTAssertEqual(port % 2, 0, "attempt \(attempt): \(port)")
        }

        let first = harness.client("127.0.0.1:40200").allocate([.evenPort(reserveNext: true)])
        guard case .reservationToken(let token)? = first?.attribute(.reservationToken) else { return XCTFail("no token") }
        harness.failingOpens = 1
        XCTAssertError(harness.client("127.0.0.1:40201").allocate([.reservationToken(token)]), 508,
                       "the reserved port, or nothing")
    }

    func testRelayThatNeverBindsEndsIn508AndLeavesNothingBehind() {
        let harness = TURNHarness()
        harness.failingOpens = 100
        XCTAssertError(harness.client().allocate(), 508)
        XCTAssertEqual(harness.core.allocationCount, 0)
        XCTAssertEqual(harness.core.bookedRelayPorts, 0)
        harness.failingOpens = 0
        XCTAssertSuccess(harness.client("127.0.0.1:2").allocate(), "the 5-tuple and the user's quota are free again")
    }

    func testIPv6RelayWithoutAnIPv6AddressIs440() {
        let harness = TURNHarness()
        XCTAssertError(harness.client().allocate([.requestedAddressFamily(.ipv6)]), 440)
    }

    func testRequestedIPv6FamilyGetsAnIPv6Relay() {
        let harness = TURNHarness { $0.relayIPv6 = IPAddress("::1") }
        let response = harness.client().allocate([.requestedAddressFamily(.ipv6)])
        XCTAssertSuccess(response)
        XCTAssertEqual(response?.relayedAddresses.map(\.ip), [IPAddress("::1")!])
    }

    func testAdditionalAddressFamilyGivesAnIPv4AndIPv6Pair() {
        let harness = TURNHarness { $0.relayIPv6 = IPAddress("::1") }
        let response = harness.client().allocate([.additionalAddressFamily(.ipv6)])
        XCTAssertSuccess(response)
        XCTAssertEqual(response?.relayedAddresses.map(\.ip), [IPAddress("127.0.0.1")!, IPAddress("::1")!])
        XCTAssertNil(response?.attribute(.addressErrorCode))
        XCTAssertEqual(harness.opened.count, 2)
    }

    func testAdditionalAddressFamilyWithoutIPv6SucceedsWithAnAddressErrorCode() {
        let harness = TURNHarness()
        let response = harness.client().allocate([.additionalAddressFamily(.ipv6)])
        XCTAssertSuccess(response)
        XCTAssertEqual(response?.relayedAddresses.count, 1)
        guard case .addressErrorCode(let family, let error)? = response?.attribute(.addressErrorCode) else {
            return XCTFail("no ADDRESS-ERROR-CODE")
        }
        XCTAssertEqual(family, .ipv6)
        XCTAssertEqual(error.code, 440)
    }

    func testAdditionalAddressFamilyIPv4AndBothFamilyAttributesAre400() {
        let harness = TURNHarness { $0.relayIPv6 = IPAddress("::1") }
        XCTAssertError(harness.client("127.0.0.1:1").allocate([.additionalAddressFamily(.ipv4)]), 400)
        XCTAssertError(harness.client("127.0.0.1:2").allocate([.requestedAddressFamily(.ipv4), .additionalAddressFamily(.ipv6)]), 400)
    }

    func testEvenPortWithReservationHandsTheNextPortToTheTokenHolder() {
        let harness = TURNHarness()
        let first = harness.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        XCTAssertSuccess(first)
        guard let relay = first?.relayedAddresses.first, case .reservationToken(let token)? = first?.attribute(.reservationToken) else {
            return XCTFail("no relay or RESERVATION-TOKEN")
        }
        XCTAssertEqual(relay.port % 2, 0)
        // Someone else allocating meanwhile does not get the reserved port.
        let other = harness.client("127.0.0.1:2").allocate()
        XCTAssertNotEqual(other?.relayedAddresses.first?.port, relay.port + 1)
        let second = harness.client("127.0.0.1:3").allocate([.reservationToken(token)])
        XCTAssertSuccess(second)
        XCTAssertEqual(second?.relayedAddresses.first?.port, relay.port + 1)
        // A token is good once.
        XCTAssertError(harness.client("127.0.0.1:4").allocate([.reservationToken(token)]), 508)
    }

    func testReservationExpires() {
        let harness = TURNHarness()
        let first = harness.client("127.0.0.1:1").allocate([.evenPort(reserveNext: true)])
        guard case .reservationToken(let token)? = first?.attribute(.reservationToken) else { return XCTFail("no token") }
        harness.clock.advance(seconds: 31)
        harness.expire()
        XCTAssertError(harness.client("127.0.0.1:2").allocate([.reservationToken(token)]), 508)
    }

    func testReservationTokenWithEvenPortIs400() {
        let harness = TURNHarness()
        XCTAssertError(harness.client().allocate([.reservationToken(42), .evenPort(reserveNext: false)]), 400)
    }

    func testEvenPortWithoutReservationGivesAnEvenPort() {
        let harness = TURNHarness()
        for port in 1...5 {
            let response = harness.client("127.0.0.1:\(port)").allocate([.evenPort(reserveNext: false)])
            XCTAssertEqual((response?.relayedAddresses.first?.port ?? 1) % 2, 0)
        }
    }

    func testDontFragmentReachesTheEdge() {
        let harness = TURNHarness()
        var sawDontFragment = false
        let client = harness.client()
        let bytes = client.signed(.allocate, [.requestedTransport(17), .dontFragment])
        let message = try! STUNMessage(decoding: bytes)
        harness.drive { actions in
            harness.core.handleClientMessage(message, from: client.fiveTuple, into: &actions)
            for case .openRelay(_, let dontFragment) in actions { sawDontFragment = dontFragment }
        }
        XCTAssertTrue(sawDontFragment)
    }

    func testExternalIPIsAdvertisedInsteadOfTheBoundAddress() {
        let harness = TURNHarness { $0.externalIPv4 = IPAddress("203.0.113.7") }
        let response = harness.client().allocate()
        XCTAssertEqual(response?.relayedAddresses.first?.ip, IPAddress("203.0.113.7"))
        XCTAssertEqual(harness.opened.first?.ip, IPAddress("127.0.0.1"), "the socket is bound on the real address")
        XCTAssertEqual(response?.relayedAddresses.first?.port, harness.opened.first?.port)
    }

    func testUnknownMethodIs400() {
        let harness = TURNHarness()
        let response = harness.client().request(STUNMethod(rawValue: 0x00F), [])
        XCTAssertError(response, 400)
    }
}
