import NIOCore
@testable import STUN
import XCTest

/// `BindingRequest(scanning:)` is a shortcut: whatever it accepts must be answered byte for byte as the full decoder
/// path answers it, and whatever it refuses must still get the full path's answer.
final class BindingFastPathTests: XCTestCase {
    let client = TransportAddress("192.0.2.10:40000")!
    let responder = BindingResponder(addresses: ResponderAddresses(primary: TransportAddress("127.0.0.1:3478")!,
                                                                   alternate: TransportAddress("127.0.0.2:3479")!))

    private func request(_ attributes: [STUNAttribute], fingerprint: Bool = true, cookie: UInt32 = STUNMessage.magicCookie,
                         key: IntegrityKey? = nil) -> ByteBuffer {
        STUNMessage(type: .bindingRequest, transactionID: TransactionID(high: 1, middle: 2, low: 3), cookie: cookie,
                    attributes: attributes).encoded(options: .init(integrityKey: key, fingerprint: fingerprint))
    }

    /// The answer of the long path: decode, then hand the message over.
    private func slowAnswer(_ bytes: ByteBuffer) -> (BindingResponder.Decision, [UInt8]) {
        var out = ByteBuffer()
        let decision: BindingResponder.Decision
        do {
            let message = try STUNMessage(decoding: bytes, options: .init(acceptClassic: true))
            decision = responder.handle(message, from: client, receivedOn: .primary, localAddress: nil, transport: .udp, into: &out)
        } catch {
            decision = responder.answerUndecodable(bytes, error: error, from: client, socket: .primary, into: &out)
        }
        return (decision, out.allBytes)
    }

    private func fastAnswer(_ bytes: ByteBuffer) -> (BindingResponder.Decision, [UInt8]) {
        var out = ByteBuffer()
        let decision = responder.handle(bytes, from: client, receivedOn: .primary, localAddress: nil, transport: .udp, into: &out)
        return (decision, out.allBytes)
    }

    func testScannedRequestsAreAnsweredExactlyAsDecodedOnes() {
        let unknownOptional = STUNAttribute.unknown(type: STUNAttributeType(rawValue: 0xC0DE), value: [1, 2, 3])
        let cases: [(String, ByteBuffer)] = [
            ("bare, no fingerprint", request([], fingerprint: false)),
            ("fingerprint", request([])),
            ("software", request([.software("aiortc 1.9")])),
            ("change ip and port", request([.changeRequest([.changeIP, .changePort])])),
            ("change port", request([.changeRequest(.changePort)])),
            ("response port", request([.responsePort(50_000)])),
            ("padding", request([.padding(33)])),
            ("unknown comprehension-optional", request([unknownOptional])),
            ("classic client", request([], fingerprint: false, cookie: 0x0102_0304)),
            ("classic change request", request([.changeRequest(.changeIP)], fingerprint: false, cookie: 7)),
        ]
        for (name, bytes) in cases {
            XCTAssertNotNil(BindingRequest(scanning: bytes), "\(name): the scan should read it")
            let fast = fastAnswer(bytes), slow = slowAnswer(bytes)
            XCTAssertEqual(fast.0, slow.0, name)
            XCTAssertEqual(fast.1, slow.1, name)
        }
    }

    func testUnusualRequestsTakeTheLongPathAndGetItsAnswer() {
        var badFingerprint = request([])
        badFingerprint.setInteger(UInt8(0xFF), at: badFingerprint.writerIndex - 1)
        var afterFingerprint = request([])
        afterFingerprint.setInteger(UInt16(afterFingerprint.readableBytes - 20 + 8), at: 2)
        afterFingerprint.writeBytes([0x80, 0x22, 0x00, 0x04, 0x61, 0x62, 0x63, 0x64])
        let cases: [(String, ByteBuffer)] = [
            ("unknown comprehension-required", request([.unknown(type: STUNAttributeType(rawValue: 0x0031), value: [9])])),
            ("message integrity", request([], key: .shortTerm(password: "secret"))),
            ("username", request([.username("alice")])),
            ("malformed change request", request([.unknown(type: .changeRequest, value: [0, 0])])),
            ("software not UTF-8", request([.unknown(type: .software, value: [0xFF, 0xFE])])),
            ("bad fingerprint", badFingerprint),
            ("attribute after fingerprint", afterFingerprint),
            ("response port 0", request([.responsePort(0)])),
            ("truncated", request([]).getSlice(at: 0, length: 24)!),
        ]
        for (name, bytes) in cases {
            let fast = fastAnswer(bytes), slow = slowAnswer(bytes)
            XCTAssertEqual(fast.0, slow.0, name)
            XCTAssertEqual(fast.1, slow.1, name)
        }
        // Those the scan must leave to the decoder (response port 0 and the padding cases are answered by the scan).
        for (name, bytes) in cases where name != "response port 0" {
            XCTAssertNil(BindingRequest(scanning: bytes), name)
        }
    }

    /// `isKnown` must agree with the decoder, or the scan would skip an attribute the decoder validates.
    func testIsKnownMatchesTheDecoder() throws {
        for raw in Array(UInt16(0)...0x0040) + Array(0x8000...0x8040) {
            let type = STUNAttributeType(rawValue: raw)
            var message = ByteBuffer()
            message.writeInteger(UInt16(0x0001))
            message.writeInteger(UInt16(8))
            message.writeInteger(STUNMessage.magicCookie)
            message.writeBytes([UInt8](repeating: 7, count: 12))
            message.writeInteger(raw)
            message.writeInteger(UInt16(4))
            message.writeInteger(UInt32(0x0100_0000))
            let decodedAsUnknown: Bool
            do {
                let decoded = try STUNMessage(decoding: message, options: .init(verifyFingerprint: false))
                if case .unknown? = decoded.attributes.first { decodedAsUnknown = true } else { decodedAsUnknown = false }
            } catch {
                decodedAsUnknown = false  // the decoder checked the value, so it knows the type
            }
            XCTAssertEqual(type.isKnown, !decodedAsUnknown, "attribute type \(type)")
        }
    }

    func testSlicedCRC32MatchesTheBitwiseDefinition() {
        var random = SplitMix64(seed: 42)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            XCTAssertEqual(CRC32.checksum(bytes), ~crc, "length \(length)")
        }
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)  // the standard check value
    }

    /// `writeSuccess` stores bytes by hand: it must give exactly what the general encoder gives for the same message.
    func testHandWrittenSuccessMatchesTheGeneralEncoder() {
        let id = TransactionID(high: 0x0102_0304, middle: 0xA0B0_C0D0, low: 0xFFEE_DDCC)
        let v4 = TransportAddress("198.51.100.7:61000")!, v6 = TransportAddress("[2001:db8::17]:3478")!
        let cases: [(TransportAddress, TransportAddress?, TransportAddress?, String?)] = [
            (v4, nil, nil, nil),
            (v4, TransportAddress("127.0.0.1:3478")!, TransportAddress("127.0.0.2:3479")!, "Switchboard"),
            (v6, v6, nil, "odd length ♫"),
            (v6, nil, v4, "four"),
        ]
        for (mapped, origin, other, software) in cases {
            let responder = BindingResponder(addresses: ResponderAddresses(primary: v4), software: software)
            var written = ByteBuffer()
            responder.writeSuccess(transactionID: id, mapped: mapped, origin: origin, other: other, into: &written)
            var attributes: [STUNAttribute] = [.xorMappedAddress(mapped)]
            if let origin { attributes.append(.responseOrigin(origin)) }
            if let other { attributes.append(.otherAddress(other)) }
            if let software { attributes.append(.software(software)) }
            let encoded = STUNMessage(type: .bindingSuccess, transactionID: id, attributes: attributes)
                .encoded(options: .init(fingerprint: true))
            XCTAssertEqual(written.allBytes, encoded.allBytes, "\(mapped) \(String(describing: software))")
        }
    }
}
