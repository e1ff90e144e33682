import NIOCore
import STUN
import EdgeSupport
import SwitchboardApp
import XCTest

/// The server on 127.0.0.1 and 127.0.0.2, two ports each: every CHANGE-REQUEST combination answers from the right socket.
final class RFC5780Tests: XCTestCase {
    let alternateIP = IPAddress("127.0.0.2")!

    private func startServer() async throws -> RunningServer {
        try await running { configuration in
            configuration.alternateIP = IPAddress("127.0.0.2")!
            configuration.alternatePort = 0
        }
    }

    func testServerListensOnFourAddressesAndTCP() async throws {
        let server = try await startServer()
        let udp = server.listeners.filter { $0.name == "stun udp" }.map(\.address)
        XCTAssertEqual(udp.count, 4)
        let primary = udp[0]
        let alternatePort = udp.first { $0.ip == .ipv4Loopback && $0.port != primary.port }!.port
        XCTAssertEqual(Set(udp), [
            primary, TransportAddress(ip: .ipv4Loopback, port: alternatePort),
            TransportAddress(ip: alternateIP, port: primary.port), TransportAddress(ip: alternateIP, port: alternatePort),
        ])
        XCTAssertEqual(server.address("stun tcp"), primary)
        try await server.stop()
    }

    func testChangeRequestAnswersFromTheAskedForSocket() async throws {
        let server = try await startServer()
        let udp = server.listeners.filter { $0.name == "stun udp" }.map(\.address)
        let primary = udp[0]
        let alternatePort = udp.first { $0.ip == .ipv4Loopback && $0.port != primary.port }!.port
        let client = try await RawUDPSocket()
        let cases: [(ChangeRequest, TransportAddress)] = [
            ([], primary),
            (.changePort, TransportAddress(ip: .ipv4Loopback, port: alternatePort)),
            (.changeIP, TransportAddress(ip: alternateIP, port: primary.port)),
            ([.changeIP, .changePort], TransportAddress(ip: alternateIP, port: alternatePort)),
        ]
        for (change, expectedOrigin) in cases {
            let request = STUNMessage(type: .bindingRequest, attributes: [.changeRequest(change)])
            try await client.send(request, to: primary)
            let reply = try await client.nextMessage()
            let (response, source) = try XCTUnwrap(reply, "no answer for \(change)")
            XCTAssertEqual(response.transactionID, request.transactionID)
            XCTAssertEqual(source, expectedOrigin, "sent from the socket CHANGE-REQUEST \(change.rawValue) names")
            XCTAssertEqual(response.responseOrigin, expectedOrigin)
            XCTAssertEqual(response.otherAddress, TransportAddress(ip: alternateIP, port: alternatePort))
            XCTAssertEqual(response.xorMappedAddress, client.localAddress)
        }
        await client.close()
        try await server.stop()
    }

    func testOtherAddressIsTheDiagonalOfTheReceivingSocket() async throws {
        let server = try await startServer()
        let udp = server.listeners.filter { $0.name == "stun udp" }.map(\.address)
        let primary = udp[0]
        let alternate = udp.first { $0.ip == alternateIP && $0.port != primary.port }!
        let client = try await RawUDPSocket()
        try await client.send(STUNMessage(type: .bindingRequest), to: alternate)
        let reply = try await client.nextMessage()
        let (response, source) = try XCTUnwrap(reply)
        XCTAssertEqual(source, alternate)
        XCTAssertEqual(response.otherAddress, primary)
        await client.close()
        try await server.stop()
    }
}
