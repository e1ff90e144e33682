import NIOCore
import STUN
import XCTest

/// The test vectors of RFC 5769, byte for byte.
final class RFC5769VectorTests: XCTestCase {
    static let shortTermKey = IntegrityKey.shortTerm(password: "VOkJxbRl1RmTxUk/WvJxBt")
    static let transactionID = TransactionID(bytes: [0xB7, 0xE7, 0xA7, 0x01, 0xBC, 0x34, 0xD6, 0x86, 0xFA, 0x87, 0xDF, 0xAE])

    // RFC 5769 §2.1
    static let sampleRequest = ByteBuffer(hex: """
        00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
        00 24 00 04 6e 00 01 ff
        80 29 00 08 93 2f f9 b1 51 26 3b 36
        00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
        00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
        80 28 00 04 e5 7a 3b cf
        """)

    // RFC 5769 §2.2
    static let ipv4Response = ByteBuffer(hex: """
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96
        """)

    // RFC 5769 §2.3
    static let ipv6Response = ByteBuffer(hex: """
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c
        """)

    // RFC 5769 §2.4: no FINGERPRINT, and the padding bytes here are zero.
    static let longTermRequest = ByteBuffer(hex: """
        00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
        00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
        00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
        00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
        00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66
        """)

    static let longTermUsername = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}"
    static let longTermKey = IntegrityKey.longTerm(username: longTermUsername, realm: "example.org", password: "TheMatrIX")

    private func assertReencodes(_ message: STUNMessage, to vector: ByteBuffer, key: IntegrityKey, fingerprint: Bool,
                                 paddingByte: UInt8, file: StaticString = #filePath, line: UInt = #line) {
        let options = STUNMessage.EncodingOptions(integrityKey: key, fingerprint: fingerprint, paddingByte: paddingByte)
        let encoded = message.strippingIntegrityAndFingerprint.encoded(options: options)
        XCTAssertEqual(encoded.allBytes, vector.allBytes, file: file, line: line)
    }

    func testSampleRequestVectorDecodesAndVerifies() throws {
        let message = try STUNMessage(decoding: Self.sampleRequest)
        XCTAssertEqual(message.type, .bindingRequest)
        XCTAssertEqual(message.transactionID, Self.transactionID)
        XCTAssertFalse(message.isClassic)
        XCTAssertEqual(message.software, "STUN test client")
        XCTAssertEqual(message.username, "evtj:h6vY")
        XCTAssertEqual(message.attributes.map(\.type.rawValue), [0x8022, 0x0024, 0x8029, 0x0006, 0x0008, 0x8028])
        XCTAssertEqual(message.attributes[1], .unknown(type: STUNAttributeType(rawValue: 0x0024), value: [0x6E, 0x00, 0x01, 0xFF]))
        XCTAssertEqual(message.attributes[2],
                       .unknown(type: STUNAttributeType(rawValue: 0x8029), value: [0x93, 0x2F, 0xF9, 0xB1, 0x51, 0x26, 0x3B, 0x36]))
        XCTAssertEqual(message.unknownComprehensionRequired, [STUNAttributeType(rawValue: 0x0024)])
        XCTAssertEqual(message.fingerprint, 0xE57A_3BCF)
        XCTAssertTrue(message.verifyIntegrity(.sha1, key: Self.shortTermKey))
        XCTAssertFalse(message.verifyIntegrity(.sha1, key: .shortTerm(password: "VOkJxbRl1RmTxUk/WvJxBT")))
        XCTAssertFalse(message.verifyIntegrity(.sha256, key: Self.shortTermKey))
    }

    func testSampleRequestVectorReencodesByteForByte() throws {
        let message = try STUNMessage(decoding: Self.sampleRequest)
        assertReencodes(message, to: Self.sampleRequest, key: Self.shortTermKey, fingerprint: true, paddingByte: 0x20)
    }

    func testSampleRequestVectorBuiltFromScratchEncodesByteForByte() {
        let message = STUNMessage(type: .bindingRequest, transactionID: Self.transactionID, attributes: [
            .software("STUN test client"),
            .unknown(type: STUNAttributeType(rawValue: 0x0024), value: [0x6E, 0x00, 0x01, 0xFF]),
            .unknown(type: STUNAttributeType(rawValue: 0x8029), value: [0x93, 0x2F, 0xF9, 0xB1, 0x51, 0x26, 0x3B, 0x36]),
            .username("evtj:h6vY"),
        ])
        assertReencodes(message, to: Self.sampleRequest, key: Self.shortTermKey, fingerprint: true, paddingByte: 0x20)
    }

    func testIPv4ResponseVectorDecodesAndVerifies() throws {
        let message = try STUNMessage(decoding: Self.ipv4Response)
        XCTAssertEqual(message.type, .bindingSuccess)
        XCTAssertEqual(message.transactionID, Self.transactionID)
        XCTAssertEqual(message.software, "test vector")
        XCTAssertEqual(message.xorMappedAddress, TransportAddress(ip: IPAddress("192.0.2.1")!, port: 32853))
        XCTAssertEqual(message.unknownComprehensionRequired, [])
        XCTAssertEqual(message.fingerprint, 0xC07D_4C96)
        XCTAssertTrue(message.verifyIntegrity(.sha1, key: Self.shortTermKey))
        XCTAssertFalse(message.verifyIntegrity(.sha1, key: .shortTerm(password: "wrong")))
    }

    func testIPv4ResponseVectorReencodesByteForByte() throws {
        let message = try STUNMessage(decoding: Self.ipv4Response)
        assertReencodes(message, to: Self.ipv4Response, key: Self.shortTermKey, fingerprint: true, paddingByte: 0x20)
    }

    func testIPv6ResponseVectorDecodesAndVerifies() throws {
        let message = try STUNMessage(decoding: Self.ipv6Response)
        XCTAssertEqual(message.type, .bindingSuccess)
        XCTAssertEqual(message.software, "test vector")
        XCTAssertEqual(message.xorMappedAddress,
                       TransportAddress(ip: IPAddress("2001:db8:1234:5678:11:2233:4455:6677")!, port: 32853))
        XCTAssertEqual(message.xorMappedAddress?.description, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")
        XCTAssertEqual(message.fingerprint, 0xC8FB_0B4C)
        XCTAssertTrue(message.verifyIntegrity(.sha1, key: Self.shortTermKey))
        XCTAssertFalse(message.verifyIntegrity(.sha1, key: .shortTerm(password: "wrong")))
    }

    func testIPv6ResponseVectorReencodesByteForByte() throws {
        let message = try STUNMessage(decoding: Self.ipv6Response)
        assertReencodes(message, to: Self.ipv6Response, key: Self.shortTermKey, fingerprint: true, paddingByte: 0x20)
    }

    func testLongTermRequestVectorDecodesAndVerifies() throws {
        let message = try STUNMessage(decoding: Self.longTermRequest)
        XCTAssertEqual(message.type, .bindingRequest)
        XCTAssertEqual(message.transactionID,
                       TransactionID(bytes: [0x78, 0xAD, 0x34, 0x33, 0xC6, 0xAD, 0x72, 0xC0, 0x29, 0xDA, 0x41, 0x2E]))
        XCTAssertEqual(message.username, Self.longTermUsername)
        XCTAssertEqual(message.nonce, "f//499k954d6OL34oL9FSTvy64sA")
        XCTAssertEqual(message.realm, "example.org")
        XCTAssertNil(message.fingerprint, "the §2.4 vector carries no FINGERPRINT")
        XCTAssertTrue(message.verifyIntegrity(.sha1, key: Self.longTermKey))
        XCTAssertFalse(message.verifyIntegrity(.sha1, key: .longTerm(username: Self.longTermUsername, realm: "example.org",
                                                                    password: "TheMatrix")))
        // The unprepared password gives a different key: SASLprep is the caller's job.
        XCTAssertFalse(message.verifyIntegrity(.sha1, key: .longTerm(username: Self.longTermUsername, realm: "example.org",
                                                                    password: "The\u{00AD}M\u{00AA}tr\u{2168}")))
    }

    func testLongTermKeyIsMD5OfUsernameRealmPassword() {
        // MD5("<username>:example.org:TheMatrIX"), computed independently.
        XCTAssertEqual(Self.longTermKey.bytes.count, 16)
        XCTAssertEqual(IntegrityKey.longTerm(username: "user", realm: "realm", password: "pass").bytes,
                       ByteBuffer(hex: "8493fbc53ba582fb4c044c456bdc40eb").allBytes)
    }

    func testLongTermRequestVectorReencodesByteForByte() throws {
        let message = try STUNMessage(decoding: Self.longTermRequest)
        assertReencodes(message, to: Self.longTermRequest, key: Self.longTermKey, fingerprint: false, paddingByte: 0x00)
    }

    func testEveryVectorFailsFingerprintCheckWhenOneBitFlips() throws {
        for vector in [Self.sampleRequest, Self.ipv4Response, Self.ipv6Response] {
            var corrupted = vector
            let last = corrupted.writerIndex - 1
            corrupted.setInteger(corrupted.getInteger(at: last, as: UInt8.self)! ^ 0x01, at: last)
            XCTAssertDecodingFails(corrupted, with: .badFingerprint)
            // With fingerprint checks off the bytes still decode, and integrity still holds (it precedes FINGERPRINT).
            let lenient = try STUNMessage(decoding: corrupted, options: .init(verifyFingerprint: false))
            XCTAssertTrue(lenient.verifyIntegrity(.sha1, key: Self.shortTermKey))
        }
    }

    func testVectorDecodesAndVerifiesFromTheMiddleOfALargerBuffer() throws {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB, 0xCC])
        var vector = Self.sampleRequest
        buffer.writeBuffer(&vector)
        buffer.moveReaderIndex(forwardBy: 3)
        let message = try STUNMessage(decoding: buffer)
        XCTAssertEqual(message.username, "evtj:h6vY")
        XCTAssertTrue(message.verifyIntegrity(.sha1, key: Self.shortTermKey))
        XCTAssertEqual(STUNMessage.framedLength(of: buffer), 108)
    }
}
