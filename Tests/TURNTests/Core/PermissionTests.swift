import NIOCore
import STUN
import TURN
import XCTest

final class PermissionTests: XCTestCase {
    let peer = TransportAddress("127.0.0.9:7000")!
    let otherPeer = TransportAddress("127.0.0.10:7000")!

    func testSendIndicationWithAPermissionReachesThePeer() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertSuccess(client.createPermission(peer))
        client.sendIndication([1, 2, 3], to: peer)
        XCTAssertEqual(harness.sentToPeers, [.init(data: [1, 2, 3], relay: relay, peer: peer)])
    }

    func testSendWithoutPermissionIsDroppedSilently() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        client.sendIndication([1, 2, 3], to: peer)
        XCTAssertTrue(harness.sentToPeers.isEmpty)
        XCTAssertEqual(harness.core.counters.packetsDropped, 1)
    }

    func testSendWithoutAllocationIsDropped() {
        let harness = TURNHarness()
        harness.client().sendIndication([1], to: peer)
        XCTAssertTrue(harness.sentToPeers.isEmpty)
    }

    func testPermissionIsPerIPAddressAnyPort() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.createPermission(peer))
        let samePeerOtherPort = TransportAddress(ip: peer.ip, port: 9999)
        client.sendIndication([7], to: samePeerOtherPort)
        XCTAssertEqual(harness.sentToPeers.map(\.peer), [samePeerOtherPort])
    }

    func testSeveralPeersInOneRequest() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.createPermission(peer, otherPeer))
        client.sendIndication([1], to: peer)
        client.sendIndication([2], to: otherPeer)
        XCTAssertEqual(harness.sentToPeers.count, 2)
    }

    func testDeniedPeerIs403AndNoPermissionOfTheRequestIsInstalled() {
        let harness = TURNHarness(allow: [])  // default deny list: loopback refused
        let client = harness.client()
        _ = client.allocated()
        let response = client.createPermission(TransportAddress("198.51.100.1:5000")!, peer)
        XCTAssertError(response, 403)
        client.sendIndication([1], to: TransportAddress("198.51.100.1:5000")!)
        client.sendIndication([1], to: peer)
        XCTAssertTrue(harness.sentToPeers.isEmpty, "all or nothing; and never anything to a denied peer")
    }

    func testOperatorDenyWinsForPrivateRangesAndPublicPeersAreAllowed() {
        let harness = TURNHarness(allow: [], deny: ["198.51.100.0/24"])
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.createPermission(TransportAddress("198.51.100.7:1")!), 403)
        XCTAssertError(client.createPermission(TransportAddress("10.1.2.3:1")!), 403)
        XCTAssertError(client.createPermission(TransportAddress("192.168.1.1:1")!), 403)
        XCTAssertError(client.createPermission(TransportAddress("169.254.0.1:1")!), 403)
        XCTAssertError(client.createPermission(TransportAddress("100.64.0.1:1")!), 403)
        XCTAssertError(client.createPermission(TransportAddress("203.0.113.5:1")!), 403, "documentation range")
        XCTAssertSuccess(client.createPermission(TransportAddress("93.184.216.34:1")!), "a public address")
    }

    func testPeerOfTheWrongFamilyIs443() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.createPermission(TransportAddress("[::1]:5000")!), 443)
    }

    func testMissingPeerAddressIs400() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertError(client.request(.createPermission, []), 400)
    }

    func testCreatePermissionWithoutAllocationIs437() {
        XCTAssertError(TURNHarness().client().createPermission(peer), 437)
    }

    func testPermissionLimitIs508() {
        let harness = TURNHarness { $0.maxPermissionsPerAllocation = 2 }
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.createPermission(TransportAddress("127.0.0.2:1")!, TransportAddress("127.0.0.3:1")!))
        XCTAssertSuccess(client.createPermission(TransportAddress("127.0.0.2:9")!), "refreshing an existing one is fine")
        XCTAssertError(client.createPermission(TransportAddress("127.0.0.4:1")!), 508)
    }

    func testPermissionExpiresAfterFiveMinutesUnlessRefreshed() {
        let harness = TURNHarness()
        let client = harness.client()
        _ = client.allocated()
        XCTAssertSuccess(client.createPermission(peer, otherPeer))
        harness.clock.advance(seconds: 200)
        XCTAssertSuccess(client.createPermission(peer))
        harness.clock.advance(seconds: 200)
        harness.expire()
        client.sendIndication([1], to: peer)
        client.sendIndication([2], to: otherPeer)
        XCTAssertEqual(harness.sentToPeers.map(\.peer), [peer], "only the refreshed permission is left")
    }

    func testPeerDataNeedsAPermissionAndArrivesAsADataIndication() {
        let harness = TURNHarness()
        let client = harness.client()
        let relay = client.allocated()
        XCTAssertTrue(harness.peerSends([9, 9], from: peer, to: relay).isEmpty, "no permission yet")
        XCTAssertSuccess(client.createPermission(peer))
        let delivered = harness.peerSends([9, 8, 7], from: peer, to: relay)
        XCTAssertEqual(delivered.count, 1)
        XCTAssertEqual(delivered.first?.fiveTuple, client.fiveTuple)
        let indication = delivered.first.flatMap { try? STUNMessage(decoding: $0.bytes) }
        XCTAssertEqual(indication?.type, STUNMessageType(method: .data, messageClass: .indication))
        guard case .xorPeerAddress(let from)? = indication?.attribute(.xorPeerAddress),
              case .data(let data)? = indication?.attribute(.data) else { return XCTFail("not a Data indication") }
        XCTAssertEqual(from, peer)
        XCTAssertEqual(Array(data.readableBytesView), [9, 8, 7])
    }

    func testDatagramToAnUnknownRelayIsDropped() {
        let harness = TURNHarness()
        XCTAssertTrue(harness.peerSends([1], from: peer, to: TransportAddress("127.0.0.1:50500")!).isEmpty)
        XCTAssertEqual(harness.core.counters.packetsDropped, 1)
    }
}
