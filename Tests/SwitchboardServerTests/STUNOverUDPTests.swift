import NIOCore
import STUN
import EdgeSupport
import SwitchboardApp
import XCTest

final class STUNOverUDPTests: XCTestCase {
    func testBindingResponseCarriesMappedAddressSoftwareAndFingerprint() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        let request = STUNMessage(type: .bindingRequest)
        try await client.send(request, to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, source) = try XCTUnwrap(reply)
        XCTAssertEqual(response.type, .bindingSuccess)
        XCTAssertEqual(response.transactionID, request.transactionID)
        XCTAssertEqual(response.xorMappedAddress, client.localAddress)
        XCTAssertNil(response.mappedAddress)
        XCTAssertEqual(response.software, "Switchboard")
        XCTAssertNotNil(response.fingerprint)
        XCTAssertEqual(response.responseOrigin, server.address("stun udp"))
        XCTAssertEqual(source, server.address("stun udp"))
        XCTAssertNil(response.otherAddress, "no alternate address configured")
        await client.close()
        try await server.stop()
    }

    func testClassicRFC3489RequestGetsMappedAddressAndNoXORAttribute() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        let request = STUNMessage(type: .bindingRequest, cookie: 0x0102_0304)
        try await client.send(request, to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.cookie, 0x0102_0304, "a classic response echoes the whole 128-bit id")
        XCTAssertEqual(response.mappedAddress, client.localAddress)
        XCTAssertNil(response.xorMappedAddress)
        XCTAssertEqual(response.responseOrigin, server.address("stun udp"), "sent as SOURCE-ADDRESS")
        await client.close()
        try await server.stop()
    }

    func testUnknownComprehensionRequiredAttributeGets420ListingIt() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        let request = STUNMessage(type: .bindingRequest, attributes: [.unknown(type: STUNAttributeType(rawValue: 0x7777), value: [1, 2, 3, 4])])
        try await client.send(request, to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.type, .bindingError)
        XCTAssertEqual(response.errorCode?.code, 420)
        XCTAssertEqual(response.attribute(.unknownAttributes), .unknownAttributes([STUNAttributeType(rawValue: 0x7777)]))
        await client.close()
        try await server.stop()
    }

    func testMalformedAttributeGets400AndServerKeepsAnswering() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        // A Binding request whose XOR-MAPPED-ADDRESS has address family 9.
        let id = TransactionID.random()
        var bytes = ByteBuffer(bytes: [0x00, 0x01, 0x00, 0x0C, 0x21, 0x12, 0xA4, 0x42] + id.bytes)
        bytes.writeBytes([0x00, 0x20, 0x00, 0x08, 0x00, 0x09, 0x12, 0x34, 1, 2, 3, 4])
        try await client.send(bytes, to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.errorCode?.code, 400)
        XCTAssertEqual(response.transactionID, id)

        try await client.send(STUNMessage(type: .bindingRequest), to: server.address("stun udp"))
        let second = try await client.nextMessage()
        XCTAssertEqual(second?.0.type, .bindingSuccess)
        await client.close()
        try await server.stop()
    }

    func testGarbageAndBadFingerprintAreDroppedSilently() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        try await client.send(ByteBuffer(bytes: [0xFF, 0x00, 0x01]), to: server.address("stun udp"))
        var good = STUNMessage(type: .bindingRequest).encoded(options: .init(fingerprint: true))
        let last = good.writerIndex - 1
        good.setInteger(good.getInteger(at: last, as: UInt8.self)! ^ 1, at: last)
        try await client.send(good, to: server.address("stun udp"))
        let silence = try await client.next(timeout: .milliseconds(300))
        XCTAssertNil(silence)
        let dropped = try await server.service.inspect().stun.dropped
        XCTAssertEqual(dropped, 2)
        await client.close()
        try await server.stop()
    }

    func testResponsePortSendsTheAnswerToAnotherPortOfTheSameHost() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        let listener = try await RawUDPSocket()
        let request = STUNMessage(type: .bindingRequest, attributes: [.responsePort(listener.localAddress.port)])
        try await client.send(request, to: server.address("stun udp"))
        let reply = try await listener.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.xorMappedAddress, client.localAddress)
        let silence = try await client.next(timeout: .milliseconds(200))
        XCTAssertNil(silence)
        await client.close()
        await listener.close()
        try await server.stop()
    }

    func testChangeRequestWithoutAlternateAddressGets420() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        try await client.send(STUNMessage(type: .bindingRequest, attributes: [.changeRequest(.changeIP)]), to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.errorCode?.code, 420)
        XCTAssertEqual(response.attribute(.unknownAttributes), .unknownAttributes([.changeRequest]))
        await client.close()
        try await server.stop()
    }

    func testPaddingIsEchoedWithinTheLimit() async throws {
        let server = try await running()
        let client = try await RawUDPSocket()
        try await client.send(STUNMessage(type: .bindingRequest, attributes: [.padding(1600)]), to: server.address("stun udp"))
        let reply = try await client.nextMessage()
        let (response, _) = try XCTUnwrap(reply)
        XCTAssertEqual(response.paddingLength, 1400)
        await client.close()
        try await server.stop()
    }
}
