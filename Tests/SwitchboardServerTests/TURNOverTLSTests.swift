import Crypto
import EdgeSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import STUN
import SwitchboardApp
import SwitchboardClient
import TURN
import XCTest

/// STUN/TURN over TLS (RFC 8489 §6.2.3, RFC 8656 §3.1) on real sockets: the same framing and TURN core as TCP
/// behind a TLS handshake, certificates checked at start and reloaded without dropping what is open.
final class TURNOverTLSTests: XCTestCase {
    private let key = IntegrityKey.longTerm(username: "alice", realm: "switchboard", password: "alice-password")

    private func startServer(_ configure: (inout ServerConfiguration) -> Void = { $0.selfSigned = true }) async throws -> RunningServer {
        try await running {
            $0.users = [.init(name: "alice", password: "alice-password")]
            $0.relayPorts = 54_000...54_999
            $0.allowPeers = ["127.0.0.0/8"]
            $0.tlsPort = 0
            configure(&$0)
        }
    }

    private func transact(_ connection: StreamSocket, _ method: STUNMethod, _ attributes: [STUNAttribute],
                          nonce: String?) async throws -> STUNMessage {
        try await connection.transact(method, attributes, nonce: nonce, key: key, timeout: .seconds(5))
    }

    /// A TLS connection that records the fingerprint of the certificate the server showed.
    private func connect(_ server: RunningServer) async throws -> (StreamSocket, NIOLockedValueBox<String>) {
        let seen = NIOLockedValueBox("")
        let socket = try await StreamSocket(connectingTo: server.address("turn tls")) { chain in
            let der = (try? chain.first?.toDERBytes()) ?? []
            seen.withLockedValue { $0 = SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":") }
        }
        return (socket, seen)
    }

    func testTLSListenerIsAnnouncedAndNotServedWithoutACertificate() async throws {
        let plain = try await running { $0.tlsPort = 0 }
        XCTAssertFalse(plain.listeners.contains { $0.name == "turn tls" })
        let tls = try await startServer()
        XCTAssertEqual(tls.listeners.filter { $0.name == "turn tls" }.count, 1)
    }

    /// The listeners share their ports among their own sockets (SO_REUSEPORT, one per loop), never with a second
    /// server started on the same ports by mistake: that one fails to start, naming the listener.
    func testASecondServerOnTheSamePortsFailsToStartAndTheFirstKeepsServing() async throws {
        let first = try await startServer()
        let udp = first.address("stun udp"), tls = first.address("turn tls")
        let clashes: [(String, TransportAddress, (inout ServerConfiguration) -> Void)] = [
            ("stun udp", udp, { $0.stunPort = udp.port }),
            ("turn tls", tls, { $0.tlsPort = tls.port }),
        ]
        for (listener, address, clash) in clashes {
            do {
                let second = try await RunningServer.start {
                    $0.selfSigned = true
                    $0.tlsPort = 0
                    clash(&$0)
                }
                try await second.stop()
                XCTFail("a second server started on \(listener) \(address)")
            } catch {
                XCTAssertEqual("\(error)", "\(listener) \(address): address already in use")
            }
        }
        let (connection, _) = try await connect(first)
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.xorMappedAddress, connection.localAddress)
        await connection.close()
    }

    func testBindingAndAChannelRelayOverTLS() async throws {
        let server = try await startServer()
        let (connection, seen) = try await connect(server)
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.xorMappedAddress, connection.localAddress)
        XCTAssertEqual(seen.withLockedValue { $0 }, server.service.certificateFingerprint)

        let challenge = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nil)
        let nonce = try XCTUnwrap(challenge.nonce)
        let allocated = try await transact(connection, .allocate, [.requestedTransport(17)], nonce: nonce)
        XCTAssertEqual(allocated.type.messageClass, .successResponse, "\(String(describing: allocated.errorCode))")
        guard case .xorRelayedAddress(let relay)? = allocated.attribute(.xorRelayedAddress) else { return XCTFail("no relayed address") }
        let peer = try await RawUDPSocket()
        let bind = try await transact(connection, .channelBind, [.channelNumber(0x4001), .xorPeerAddress(peer.localAddress)], nonce: nonce)
        XCTAssertEqual(bind.type.messageClass, .successResponse)
        var out = ByteBuffer()
        ChannelData.write(channel: 0x4001, data: ByteBuffer(string: "over tls"), stream: true, into: &out)
        try await connection.send(out)
        let received = try await peer.next()
        XCTAssertEqual(received?.data, ByteBuffer(string: "over tls"))
        try await peer.send(ByteBuffer(string: "back"), to: relay)
        let unit = try await connection.nextUnit(timeout: .seconds(5))
        XCTAssertEqual(unit.map { Array($0.readableBytesView) }, [0x40, 0x01, 0x00, 0x04] + Array("back".utf8))
        await peer.close()
        await connection.close()
    }

    /// Our own client (turn-check's) over TLS: two allocations relaying to each other, and a certificate it was not
    /// told to trust refused.
    func testTURNClientOverTLSRelaysBetweenTwoAllocations() async throws {
        let server = try await startServer()
        let address = server.address("turn tls")
        let tls = STUNStreamClient.TLS(host: "127.0.0.1", verify: false)
        let first = TURNClient(username: "alice", password: "alice-password",
                               transport: try await STUNStreamClient.connect(to: address, tls: tls))
        let second = TURNClient(username: "alice", password: "alice-password",
                                transport: try await STUNStreamClient.connect(to: address, tls: tls))
        XCTAssertEqual((first.transport as? STUNStreamClient)?.tlsVersion, "TLSv1.3")
        let firstAllocation = try await first.allocate()
        let secondAllocation = try await second.allocate()
        let a = try XCTUnwrap(firstAllocation.relayed.first)
        let b = try XCTUnwrap(secondAllocation.relayed.first)
        try await first.createPermission([b])
        try await second.createPermission([a])
        try await first.bindChannel(0x4000, to: b)
        try await first.send(ByteBuffer(string: "odd"), onChannel: 0x4000)
        let atSecond = try await second.nextRelayedData(timeout: .seconds(5))
        XCTAssertEqual(atSecond?.data, ByteBuffer(string: "odd"))
        XCTAssertEqual(atSecond?.peer, a)
        try await second.send(ByteBuffer(string: "padded back"), to: a)
        let atFirst = try await first.nextRelayedData(timeout: .seconds(5))
        XCTAssertEqual(atFirst?.channel, 0x4000)
        XCTAssertEqual(atFirst?.data, ByteBuffer(string: "padded back"))
        await first.close()
        await second.close()

        do {
            _ = try await STUNStreamClient.connect(to: address, tls: STUNStreamClient.TLS(host: "127.0.0.1"))
            XCTFail("a self-signed certificate passed verification against the system roots")
        } catch let error as NIOSSLError {
            guard case .handshakeFailed = error else { return XCTFail("\(error)") }
        }
    }

    func testPlainBytesOnTheTLSPortAreClosedAndTheListenerKeepsServing() async throws {
        let server = try await startServer()
        let plain = try await StreamSocket(connectingTo: server.address("turn tls"))
        try await plain.send(STUNMessage(type: .bindingRequest).encoded())
        let unanswered = try await plain.nextUnit(timeout: .seconds(3))
        XCTAssertNil(unanswered, "plain STUN on the TLS port must not be answered")
        let closed = await eventually { !plain.channel.isActive }
        XCTAssertTrue(closed, "the connection must be closed")
        let (connection, _) = try await connect(server)
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.type.messageClass, .successResponse)
    }

    func testAStalledHandshakeIsClosed() async throws {
        let server = try await startServer()
        let silent = try await StreamSocket(connectingTo: server.address("turn tls"))
        // Half a ClientHello: a record header that promises more than ever comes.
        try await silent.send(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
        let closed = await eventually(within: 15) { !silent.channel.isActive }
        XCTAssertTrue(closed, "a handshake that stalls must be cut off")
    }

    func testHalfOpenTLSConnectionsCountAgainstTheBoundsAndOthersAreStillServed() async throws {
        let server = try await startServer {
            $0.selfSigned = true
            $0.maxConnectionsPerIP = 100
        }
        var silent: [StreamSocket] = []
        for _ in 0..<100 { silent.append(try await StreamSocket(connectingTo: server.address("turn tls"))) }
        let counted = await eventually { (try? await server.service.inspect().stun.tcpConnections) == 100 }
        XCTAssertTrue(counted, "a TLS connection counts from its accept, before any handshake")
        let extra = try await StreamSocket(connectingTo: server.address("turn tls"))
        let refused = await eventually { !extra.channel.isActive }
        XCTAssertTrue(refused, "over the per-address bound a TLS connection is closed at once")
        for socket in silent.prefix(10) { await socket.close() }
        let (connection, _) = try await connect(server)
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.type.messageClass, .successResponse, "the server keeps serving others")
        for socket in silent.dropFirst(10) { await socket.close() }
    }

    func testATruncatedRecordEndsOnlyItsOwnConnection() async throws {
        let server = try await startServer()
        let truncated = try await StreamSocket(connectingTo: server.address("turn tls"))
        // A handshake record header promising 512 bytes, 10 of them, then the end of the stream.
        try await truncated.send(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00] + Array(repeating: 0x01, count: 10)))
        try await truncated.channel.close(mode: .output)
        let closed = await eventually { !truncated.channel.isActive }
        XCTAssertTrue(closed)
        let (connection, _) = try await connect(server)
        let binding = try await transact(connection, .binding, [], nonce: nil)
        XCTAssertEqual(binding.type.messageClass, .successResponse)
    }

    func testSIGHUPReloadServesTheNewCertificateToNewHandshakesAndKeepsOpenConnections() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tls-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let certFile = folder.appendingPathComponent("cert.pem"), keyFile = folder.appendingPathComponent("key.pem")
        func install(_ pem: (certificate: String, key: String)) throws {
            try pem.certificate.write(to: certFile, atomically: true, encoding: .utf8)
            try pem.key.write(to: keyFile, atomically: true, encoding: .utf8)
        }
        try install(try SelfSignedCertificate.makePEM(hosts: []))
        let server = try await startServer {
            $0.tlsCertFile = certFile.path
            $0.tlsKeyFile = keyFile.path
        }
        let first = try server.service.certificateFingerprint.map { $0 } ?? { throw ChannelError.eof }()
        let (old, oldSeen) = try await connect(server)
        _ = try await transact(old, .binding, [], nonce: nil)
        XCTAssertEqual(oldSeen.withLockedValue { $0 }, first)

        try install(try SelfSignedCertificate.makePEM(hosts: []))
        try server.service.reloadCertificate()
        let second = try XCTUnwrap(server.service.certificateFingerprint)
        XCTAssertNotEqual(first, second)
        let (fresh, freshSeen) = try await connect(server)
        _ = try await transact(fresh, .binding, [], nonce: nil)
        XCTAssertEqual(freshSeen.withLockedValue { $0 }, second, "a new handshake gets the new certificate")
        let still = try await transact(old, .binding, [], nonce: nil)
        XCTAssertEqual(still.type.messageClass, .successResponse, "a connection opened before the reload keeps working")

        // A broken file leaves the certificate in force.
        try "not a certificate".write(to: certFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try server.service.reloadCertificate())
        XCTAssertEqual(server.service.certificateFingerprint, second)
    }

    func testBadCertificatesStopTheServerWithTheirKeyNamed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tls-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = try SelfSignedCertificate.makePEM(hosts: []), b = try SelfSignedCertificate.makePEM(hosts: [])
        let cert = folder.appendingPathComponent("a.pem"), otherKey = folder.appendingPathComponent("b.key")
        try a.certificate.write(to: cert, atomically: true, encoding: .utf8)
        try b.key.write(to: otherKey, atomically: true, encoding: .utf8)
        func refusal(_ configure: (inout ServerConfiguration) -> Void) -> ConfigurationError? {
            var configuration = ServerConfiguration()
            configuration.listenIP = .ipv4Loopback
            configure(&configuration)
            do {
                _ = try SwitchboardService(configuration: configuration, logger: .init(label: "test"))
                return nil
            } catch {
                return error as? ConfigurationError
            }
        }
        let mismatched = refusal { $0.tlsCertFile = cert.path; $0.tlsKeyFile = otherKey.path }
        XCTAssertEqual(mismatched?.key, "tls-key")
        XCTAssertTrue(mismatched?.problem.contains("does not belong") == true, "\(String(describing: mismatched))")
        XCTAssertEqual(refusal { $0.tlsCertFile = folder.appendingPathComponent("missing.pem").path; $0.tlsKeyFile = otherKey.path }?.key,
                       "tls-cert")
        XCTAssertEqual(refusal { $0.tlsCertFile = cert.path }?.key, "tls-key")
        XCTAssertEqual(refusal { $0.selfSigned = true; $0.tlsCertFile = cert.path }?.key, "self-signed")
        let expired = try SelfSignedCertificate.make(hosts: [], now: Date().addingTimeInterval(-90 * 86_400))
        XCTAssertNotNil(expired.validityWarning(), "an expired certificate is warned about")
    }
}

/// HTTPS and WSS: the signaling routes over TLS on `--https-port`, beside plain HTTP.
final class HTTPSSignalingTests: XCTestCase {
    func testHTTPSServesTheRoutesAndWSSSignalsAndICEServersListTurns() async throws {
        let server = try await running {
            $0.selfSigned = true
            $0.tlsPort = 0
            $0.httpsPort = 0
        }
        let httpsPort = Int(server.address("https").port)
        let health = try await RawWebSocket.openTCP(port: httpsPort, tls: true)
        try await health.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try await health.nextHTTPResponse()
        XCTAssertEqual(answer?.status, 200)

        let ice = try await RawWebSocket.openTCP(port: httpsPort, tls: true)
        try await ice.sendRaw("GET /v1/ice-servers HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try await ice.nextHTTPResponse()
        let servers = try XCTUnwrap(response)
        XCTAssertTrue(servers.body.contains("turns:127.0.0.1:\(server.address("turn tls").port)?transport=tcp"), servers.body)

        try await expectWSSSession(port: httpsPort)
    }

    func testPlainHTTPOnTheHTTPSPortIsClosedUnanswered() async throws {
        let server = try await running {
            $0.selfSigned = true
            $0.httpsPort = 0
        }
        let plain = try await RawWebSocket.openTCP(port: Int(server.address("https").port))
        try await plain.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try await plain.nextHTTPResponse(timeout: .seconds(3))
        XCTAssertNil(answer, "no HTTP answer without TLS")
        let closed = await eventually { !plain.isOpen }
        XCTAssertTrue(closed)
    }
}

/// The one-port mux (`--mux-port`): TLS (turns: and WSS), plain STUN/TURN and plain HTTP on one port, each told
/// apart by its first bytes.
final class MuxPortTests: XCTestCase {
    private func startServer(_ extra: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningServer {
        try await running {
            $0.selfSigned = true
            $0.muxPort = 0
            $0.users = [.init(name: "alice", password: "alice-password")]
            extra(&$0)
        }
    }

    /// A mux port picked at start (port 0) is claimed before the HTTP side starts, so iceServers name it too.
    func testAPickedMuxPortIsNamedInICEServers() async throws {
        let server = try await startServer()
        let mux = server.address("mux")
        let answer = try await TestHTTP(port: server.httpPort).request("GET", "/v1/ice-servers")
        let servers = try XCTUnwrap((answer.body as? [String: Any])?["iceServers"] as? [[String: Any]])
        let urls = servers.flatMap { ($0["urls"] as? [String]) ?? [] }
        XCTAssertTrue(urls.contains("turns:127.0.0.1:\(mux.port)?transport=tcp"), "\(urls)")
    }

    func testOnePortServesPlainSTUNPlainHTTPTURNSAndWSS() async throws {
        let server = try await startServer()
        let mux = server.address("mux")

        let plain = try await StreamSocket(connectingTo: mux)
        try await plain.send(STUNMessage(type: .bindingRequest).encoded())
        let plainAnswer = try await plain.nextUnit(timeout: .seconds(5)).flatMap { try? STUNMessage(decoding: $0) }
        XCTAssertEqual(plainAnswer?.xorMappedAddress, plain.localAddress, "plain STUN over TCP")

        let http = try await RawWebSocket.openTCP(port: Int(mux.port))
        try await http.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let health = try await http.nextHTTPResponse()
        XCTAssertEqual(health?.status, 200, "plain HTTP")

        let secure = try await StreamSocket(connectingTo: mux, tls: { _ in })
        try await secure.send(STUNMessage(type: .bindingRequest).encoded())
        let secureAnswer = try await secure.nextUnit(timeout: .seconds(5)).flatMap { try? STUNMessage(decoding: $0) }
        XCTAssertEqual(secureAnswer?.xorMappedAddress, secure.localAddress, "STUN over TLS")

        let https = try await RawWebSocket.openTCP(port: Int(mux.port), tls: true)
        try await https.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let secureHealth = try await https.nextHTTPResponse()
        XCTAssertEqual(secureHealth?.status, 200, "HTTPS")

        try await expectWSSSession(port: Int(mux.port))
    }

    func testConnectionsStillBeingSortedCountAgainstThePerAddressBound() async throws {
        let port = Int(try await startServer { $0.maxConnectionsPerIP = 3 }.address("mux").port)
        var silent: [RawWebSocket] = []
        for _ in 0..<3 { silent.append(try await RawWebSocket.openTCP(port: port)) }
        let extra = try await RawWebSocket.openTCP(port: port)
        let refused = await eventually { !extra.isOpen }
        XCTAssertTrue(refused, "a fourth connection from one address, none of them sorted yet, is closed at once")
        XCTAssertTrue(silent.allSatisfy(\.isOpen), "the first three wait for their first bytes")
        try await silent[0].sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let answer = try await silent[0].nextHTTPResponse()
        XCTAssertEqual(answer?.status, 200)
        let next = try await RawWebSocket.openTCP(port: port)
        try await next.sendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let nextAnswer = try await next.nextHTTPResponse()
        XCTAssertEqual(nextAnswer?.status, 200, "once sorted, a connection leaves the sorting bound for its protocol's")
    }

    func testBytesNoProtocolClaimsAreClosed() async throws {
        let server = try await startServer()
        let junk = try await RawWebSocket.openTCP(port: Int(server.address("mux").port))
        try await junk.sendRaw("\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}")
        let closed = await eventually { !junk.isOpen }
        XCTAssertTrue(closed)
    }

    func testFirstBytesAreToldApart() {
        XCTAssertEqual(FirstBytes.of(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])), .tls)
        XCTAssertEqual(FirstBytes.of(STUNMessage(type: .bindingRequest).encoded()), .stun)
        XCTAssertEqual(FirstBytes.of(ByteBuffer(string: "GET / HTTP/1.1\r\n")), .http)
        XCTAssertEqual(FirstBytes.of(ByteBuffer(bytes: [0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4])), .unknown, "STUN without the cookie")
        XCTAssertEqual(FirstBytes.of(ByteBuffer(string: "get / http")), .unknown)
    }
}

extension XCTestCase {
    /// A WebSocket over TLS to `port` is upgraded and gets its session's `welcome`.
    func expectWSSSession(port: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let socket = try await RawWebSocket.connect(port: port, tls: true)
        let welcome = try await socket.next(type: "welcome")
        XCTAssertNotNil(welcome, "a WSS connection gets its session", file: file, line: line)
    }
}
