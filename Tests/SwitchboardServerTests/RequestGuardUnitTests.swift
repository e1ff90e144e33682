import NIOCore
@testable import EdgeSupport
@testable import RelayEdge
@testable import SignalingEdge
@testable import SwitchboardApp
import XCTest

/// The pure parts of the HTTP request guard, the host choice for `iceServers` and the relay-range share.
final class RequestGuardUnitTests: XCTestCase {
    private let limits = HTTPRequestLimits()

    func testHeadScannerFindsTheEndAcrossReadsWithoutRescanning() {
        var scanner = HTTPHeadScanner()
        let head = Array("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nrest".utf8)
        var found: Int?
        var offset = 0
        for byte in head where found == nil {
            if let end = scanner.scan([byte]) { found = offset + end }
            offset += 1
        }
        XCTAssertEqual(found, head.count - 4)
        XCTAssertEqual(scanner.scanned, head.count - 4)
    }

    func testHeadParsingDecidesTheBodyFraming() throws {
        func parse(_ text: String) -> Result<HTTPRequestHead, HTTPRefusal> {
            HTTPRequestHead.parse(Array(text.utf8), limits: limits)
        }
        XCTAssertEqual(try parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").get().body, .length(5))
        XCTAssertEqual(try parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n").get().body, .length(5))
        XCTAssertEqual(try parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").get().body, .chunked)
        XCTAssertEqual(try parse("GET / HTTP/1.0\r\n\r\n").get().body, .none)
        XCTAssertTrue(try parse("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
            .get().upgradesToWebSocket)
        for bad in ["GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n",
                    "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{0}b\r\n\r\n",
                    "GET / FTP/1.1\r\nHost: x\r\n\r\n", "GET\r\nHost: x\r\n\r\n"] {
            guard case .failure(let refusal) = parse(bad) else { return XCTFail("accepted \(bad.debugDescription)") }
            XCTAssertEqual(refusal.status, 400, bad.debugDescription)
        }
    }

    func testChunkedScannerFindsTheEndAndHoldsTheLimit() {
        var scanner = ChunkedBodyScanner()
        XCTAssertEqual(scanner.scan(Array("4\r\nWiki\r\n".utf8), limits: limits), .needsMore)
        XCTAssertEqual(scanner.scan(Array("0\r\nTrailer: x\r\n\r\nNEXT".utf8), limits: limits), .complete(17))
        var big = ChunkedBodyScanner()
        XCTAssertEqual(big.scan(Array("200000\r\n".utf8), limits: limits), .refused(.bodyTooLarge))
        var bad = ChunkedBodyScanner()
        guard case .refused(let refusal) = bad.scan(Array("zz\r\n".utf8), limits: limits) else { return XCTFail() }
        XCTAssertEqual(refusal.status, 400)
    }

    func testWildcardListenersAdvertiseTheAddressTheClientReached() throws {
        let directory = ICEServerDirectory(secret: "s", port: 3478, hosts: [])
        let local = try SocketAddress(ipAddress: "127.0.0.9", port: 8080)
        let servers = directory.iceServers(user: "u", reachedHost: ICEServerDirectory.reachedHost(local)).serialised
        XCTAssertTrue(servers.contains("stun:127.0.0.9:3478"), servers)
        let v6 = try SocketAddress(ipAddress: "::1", port: 8080)
        XCTAssertEqual(ICEServerDirectory.reachedHost(v6), "[::1]")
    }

    func testPublicHostsAndOriginsAreNormalised() {
        XCTAssertEqual(PublicHost.normalised("Turn.Example.COM"), "turn.example.com")
        XCTAssertEqual(PublicHost.normalised("2001:db8::1"), "[2001:db8::1]")
        XCTAssertNil(PublicHost.normalised("a:b:c"))
        XCTAssertNil(PublicHost.normalised("evil.example/x"))
        XCTAssertEqual(OriginPolicy.normalised("HTTPS://App.Example.com:443/"), "https://app.example.com")
        XCTAssertEqual(OriginPolicy.normalised("http://localhost:8080"), "http://localhost:8080")
        XCTAssertNil(OriginPolicy.normalised("null"))
        XCTAssertNil(OriginPolicy.normalised("https://a.example/path"))
    }

    func testOneUserHoldsAtMostItsShareOfTheRelayRange() {
        var configuration = ServerConfiguration()
        configuration.relayPorts = 50000...50999
        configuration.userRelayShare = 10
        configuration.userQuota = 500
        XCTAssertEqual(configuration.perUserAllocations, 100)
        configuration.userQuota = 5
        XCTAssertEqual(configuration.perUserAllocations, 5)
    }
}
