import Logging
import NIOCore
import ServiceLifecycle
import STUN
import SwitchboardClient
import EdgeSupport
import SwitchboardApp
import XCTest

final class NATBehaviourDiscoveryTests: XCTestCase {
    private func withServer(alternate: Bool, _ body: (TransportAddress) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.listenIP = .ipv4Loopback
        configuration.stunPort = 0
        configuration.httpPort = 0
        configuration.adminPort = 0
        if alternate {
            configuration.alternateIP = IPAddress("127.0.0.2")
            configuration.alternatePort = 0
        }
        let (stream, continuation) = AsyncStream.makeStream(of: [BoundListener].self)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let service = try SwitchboardService(configuration: configuration, logger: logger) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        let ready = await iterator.next()
        let listeners = try XCTUnwrap(ready)
        try await body(listeners[0].address)
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func testLoopbackIsEndpointIndependentForMappingAndFiltering() async throws {
        try await withServer(alternate: true) { server in
            let client = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
            let report = try await NATBehaviourDiscovery(server: server).run(client: client)
            XCTAssertTrue(report.rfc5780)
            XCTAssertEqual(report.mapped, client.localAddress.description)
            XCTAssertEqual(report.mapping, .endpointIndependent)
            XCTAssertEqual(report.filtering, .endpointIndependent)
            XCTAssertEqual(report.otherAddress?.hasPrefix("127.0.0.2:"), true)
            await client.close()
        }
    }

    func testServerWithoutAlternateAddressReportsNoRFC5780() async throws {
        try await withServer(alternate: false) { server in
            let client = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
            let report = try await NATBehaviourDiscovery(server: server).run(client: client)
            XCTAssertFalse(report.rfc5780)
            XCTAssertNil(report.mapping)
            XCTAssertEqual(report.mapped, client.localAddress.description)
            await client.close()
        }
    }

    func testSilentServerTimesOutAfterTheRetransmissionSchedule() async throws {
        // A bound socket that never answers.
        let silent = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
        let client = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
        let policy = RetransmissionPolicy(initialRTO: .milliseconds(20), maxRequests: 3, finalWaitMultiplier: 2)
        XCTAssertEqual(policy.waits, [.milliseconds(20), .milliseconds(40), .milliseconds(40)])
        do {
            _ = try await client.transact(STUNMessage(type: .bindingRequest), to: silent.localAddress, policy: policy)
            XCTFail("expected a timeout")
        } catch let error as STUNClientError {
            guard case .timedOut(_, let requests, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(requests, 3)
        }
        await client.close()
        await silent.close()
    }

    func testRFC8489DefaultScheduleGivesUpAfter39And5Seconds() {
        XCTAssertEqual(RetransmissionPolicy.rfc8489.totalTime, .milliseconds(39_500))
    }
}
