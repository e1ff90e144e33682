import NIOCore
import STUN
import XCTest

/// Each malformed shape is rejected with its own precise error.
final class MalformedMessageTests: XCTestCase {
    static let transactionID = TransactionID(high: 0x0102_0304, middle: 0x0506_0708, low: 0x090A_0B0C)

    /// A header (with the given fields) followed by `body`; the length field defaults to the body's size.
    private func message(type: UInt16 = 0x0001, length: Int? = nil, cookie: UInt32 = STUNMessage.magicCookie,
                         body: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(type)
        buffer.writeInteger(UInt16(length ?? body.count))
        buffer.writeInteger(cookie)
        buffer.writeInteger(Self.transactionID.high)
        buffer.writeInteger(Self.transactionID.middle)
        buffer.writeInteger(Self.transactionID.low)
        buffer.writeBytes(body)
        return buffer
    }

    /// One attribute: type, length (defaults to the value's), value, zero padding.
    private func attribute(_ type: UInt16, length: Int? = nil, _ value: [UInt8]) -> [UInt8] {
        let length = length ?? value.count
        return [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF)] + value
            + Array(repeating: 0, count: (4 - value.count % 4) % 4)
    }

    private func withLengthField(of buffer: ByteBuffer) -> ByteBuffer {
        var buffer = buffer
        buffer.setInteger(UInt16(buffer.readableBytes - 20), at: buffer.readerIndex + 2)
        return buffer
    }

    func testEveryHeaderShorterThan20BytesIsTruncatedHeader() {
        let whole = message(body: attribute(0x8022, Array("abcd".utf8)))
        for length in 0..<20 {
            XCTAssertDecodingFails(whole.getSlice(at: 0, length: length)!, with: .truncatedHeader)
        }
    }

    func testLeadingBitsOtherThan00AreNotSTUN() {
        for type: UInt16 in [0x4001, 0x8001, 0xC001, 0x4000, 0xFFFF] {
            XCTAssertDecodingFails(message(type: type), with: .notSTUN)
        }
    }

    func testWrongMagicCookieIsRejectedUnlessClassicIsAccepted() throws {
        let classic = message(cookie: 0xDEAD_BEEF, body: attribute(0x0001, [0, 1, 0x0D, 0x96, 192, 0, 2, 1]))
        XCTAssertDecodingFails(classic, with: .badMagicCookie(0xDEAD_BEEF))

        let decoded = try STUNMessage(decoding: classic, options: .init(acceptClassic: true))
        XCTAssertTrue(decoded.isClassic)
        XCTAssertEqual(decoded.cookie, 0xDEAD_BEEF)
        XCTAssertEqual(decoded.mappedAddress, TransportAddress("192.0.2.1:3478"))
        XCTAssertEqual(decoded.response(.successResponse).cookie, 0xDEAD_BEEF, "a response echoes the classic cookie")
    }

    func testLengthNotMultipleOfFourIsRejected() {
        XCTAssertDecodingFails(message(length: 5, body: [0, 0, 0, 0, 0]), with: .lengthNotMultipleOfFour(5))
        XCTAssertDecodingFails(message(length: 2, body: [0, 0]), with: .lengthNotMultipleOfFour(2))
    }

    func testDeclaredLengthMustMatchBytesThatArrived() {
        let body = attribute(0x8022, Array("abcd".utf8))
        XCTAssertDecodingFails(message(length: 12, body: body), with: .lengthMismatch(declared: 12, actual: 8))
        XCTAssertDecodingFails(message(length: 4, body: body), with: .lengthMismatch(declared: 4, actual: 8))
        XCTAssertDecodingFails(message(length: 0, body: body), with: .lengthMismatch(declared: 0, actual: 8))
    }

    func testAttributeRunningPastTheEndIsRejected() {
        // SOFTWARE claims 8 value bytes; 4 follow.
        XCTAssertDecodingFails(message(body: attribute(0x8022, length: 8, Array("abcd".utf8))),
                               with: .attributeOverrunsMessage(.software))
        // 5 value bytes fit, but their padding does not.
        XCTAssertDecodingFails(message(body: attribute(0x8022, length: 5, Array("abcd".utf8))),
                               with: .attributeOverrunsMessage(.software))
        // A second attribute overruns after a good first one.
        XCTAssertDecodingFails(message(body: attribute(0x0006, Array("user".utf8)) + attribute(0x0015, length: 100, [])),
                               with: .attributeOverrunsMessage(.nonce))
    }

    func testOneFlippedBitBreaksFingerprint() throws {
        let valid = STUNMessage(type: .bindingRequest, transactionID: Self.transactionID,
                                attributes: [.software("fingerprinted"), .username("alice")])
            .encoded(options: .init(fingerprint: true))
        XCTAssertNoThrow(try STUNMessage(decoding: valid))
        // Transaction id, the SOFTWARE text (ASCII, so flipping a low bit keeps it UTF-8) and the CRC itself.
        let softwareValue = 24..<(24 + "fingerprinted".utf8.count)
        let covered = Array(8..<20) + Array(softwareValue) + Array((valid.readableBytes - 4)..<valid.readableBytes)
        for byte in covered {
            for bit in 0..<7 {
                var corrupted = valid
                corrupted.setInteger(valid.getInteger(at: byte, as: UInt8.self)! ^ (1 << bit), at: byte)
                XCTAssertDecodingFails(corrupted, with: .badFingerprint)
            }
        }
    }

    func testBadFingerprintIsIgnoredWhenVerificationIsOff() throws {
        var bytes = STUNMessage(type: .bindingRequest, attributes: [.username("alice")]).encoded(options: .init(fingerprint: true))
        bytes.setInteger(UInt32(0), at: bytes.writerIndex - 4)
        XCTAssertDecodingFails(bytes, with: .badFingerprint)
        let decoded = try STUNMessage(decoding: bytes, options: .init(verifyFingerprint: false))
        XCTAssertEqual(decoded.fingerprint, 0)
    }

    func testAttributeAfterFingerprintIsRejected() {
        var bytes = STUNMessage(type: .bindingRequest, attributes: [.username("alice")]).encoded(options: .init(fingerprint: true))
        bytes.writeBytes(attribute(0x8022, Array("late".utf8)))
        XCTAssertDecodingFails(withLengthField(of: bytes), with: .attributeAfterFingerprint(.software))

        var twice = STUNMessage(type: .bindingRequest).encoded(options: .init(fingerprint: true))
        twice.writeBytes(attribute(0x8028, [0, 0, 0, 0]))
        XCTAssertDecodingFails(withLengthField(of: twice), with: .attributeAfterFingerprint(.fingerprint))
    }

    func testXORMappedAddressWithUnknownFamilyIsMalformed() {
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 3, 0x12, 0x34, 1, 2, 3, 4])),
                               with: .malformedAttribute(.xorMappedAddress, "unknown address family 3"))
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 0, 0x12, 0x34, 1, 2, 3, 4])),
                               with: .malformedAttribute(.xorMappedAddress, "unknown address family 0"))
    }

    func testXORMappedAddressOfWrongLengthIsMalformed() {
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 1, 0x12, 0x34] + Array(repeating: 1, count: 16))),
                               with: .malformedAttribute(.xorMappedAddress, "IPv4 address needs 4 bytes"))
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 1, 0x12, 0x34, 1, 2, 3])),
                               with: .malformedAttribute(.xorMappedAddress, "IPv4 address needs 4 bytes"))
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 2, 0x12, 0x34, 1, 2, 3, 4])),
                               with: .malformedAttribute(.xorMappedAddress, "IPv6 address needs 16 bytes"))
        XCTAssertDecodingFails(message(body: attribute(0x0020, [0, 1])),
                               with: .malformedAttribute(.xorMappedAddress, "shorter than an address header"))
        XCTAssertDecodingFails(message(body: attribute(0x0020, [])),
                               with: .malformedAttribute(.xorMappedAddress, "shorter than an address header"))
    }

    func testErrorCodeClassOutsideThreeToSixIsMalformed() throws {
        for errorClass: UInt8 in [0, 1, 2, 7] {
            XCTAssertDecodingFails(message(type: 0x0111, body: attribute(0x0009, [0, 0, errorClass, 0] + Array("x".utf8))),
                                   with: .malformedAttribute(.errorCode, "code \(errorClass)0 out of range"))
        }
        XCTAssertDecodingFails(message(type: 0x0111, body: attribute(0x0009, [0, 0, 4, 100])),
                               with: .malformedAttribute(.errorCode, "code 4100 out of range"))
        XCTAssertDecodingFails(message(type: 0x0111, body: attribute(0x0009, [0, 0, 4])),
                               with: .malformedAttribute(.errorCode, "shorter than 4 bytes"))
        let good = try STUNMessage(decoding: message(type: 0x0111, body: attribute(0x0009, [0, 0, 4, 38] + Array("Stale".utf8))))
        XCTAssertEqual(good.errorCode, STUNErrorCode(code: 438, reason: "Stale"))
    }

    func testUsernameOf509BytesIsMalformed() throws {
        XCTAssertDecodingFails(message(body: attribute(0x0006, Array(repeating: 0x61, count: 509))),
                               with: .malformedAttribute(.username, "longer than 508 bytes"))
        let longest = try STUNMessage(decoding: message(body: attribute(0x0006, Array(repeating: 0x61, count: 508))))
        XCTAssertEqual(longest.username?.utf8.count, 508)
    }

    func testRealmOf764BytesIsMalformed() {
        XCTAssertDecodingFails(message(body: attribute(0x0014, Array(repeating: 0x61, count: 764))),
                               with: .malformedAttribute(.realm, "longer than 763 bytes"))
    }

    func testInvalidUTF8InRealmIsMalformed() {
        for bytes: [UInt8] in [[0xFF], [0x61, 0xC3], [0xE3, 0x83], [0xC0, 0x80], [0xED, 0xA0, 0x80]] {
            XCTAssertDecodingFails(message(body: attribute(0x0014, bytes)), with: .malformedAttribute(.realm, "not UTF-8"))
        }
    }

    func testFixedSizeAttributesOfWrongSizeAreMalformed() {
        XCTAssertDecodingFails(message(body: attribute(0x0008, Array(repeating: 0, count: 16))),
                               with: .malformedAttribute(.messageIntegrity, "length 16, expected 20"))
        XCTAssertDecodingFails(message(body: attribute(0x001C, Array(repeating: 0, count: 12))),
                               with: .malformedAttribute(.messageIntegritySHA256, "length must be 16 to 32 and a multiple of 4"))
        XCTAssertDecodingFails(message(body: attribute(0x8028, [0, 0])),
                               with: .malformedAttribute(.fingerprint, "length 2, expected 4"))
        XCTAssertDecodingFails(message(body: attribute(0x000D, [0, 0, 0, 0, 0, 0, 0, 0])),
                               with: .malformedAttribute(.lifetime, "length 8, expected 4"))
        XCTAssertDecodingFails(message(body: attribute(0x001A, [0])),
                               with: .malformedAttribute(.dontFragment, "length 1, expected 0"))
        XCTAssertDecodingFails(message(body: attribute(0x0017, [3, 0, 0, 0])),
                               with: .malformedAttribute(.requestedAddressFamily, "unknown address family 3"))
        XCTAssertDecodingFails(message(body: attribute(0x000A, [0, 1, 0])),
                               with: .malformedAttribute(.unknownAttributes, "odd length"))
        XCTAssertDecodingFails(message(body: attribute(0x001D, [0, 2, 0, 8, 1, 2])),
                               with: .malformedAttribute(.passwordAlgorithm, "truncated algorithm entry"))
    }

    func testAttributesAfterMessageIntegrityAreIgnored() throws {
        let key = IntegrityKey.shortTerm(password: "secret")
        var bytes = STUNMessage(type: .bindingRequest, transactionID: Self.transactionID, attributes: [.username("alice")])
            .encoded(options: .init(integrityKey: key))
        // Known, unknown comprehension-required, and malformed attributes after MESSAGE-INTEGRITY are all skipped.
        bytes.writeBytes(attribute(0x8022, Array("ignored".utf8)))
        bytes.writeBytes(attribute(0x7FFF, [1, 2, 3, 4]))
        bytes.writeBytes(attribute(0x0020, [0, 9, 0, 0]))
        bytes.writeBytes(attribute(0x0008, Array(repeating: 0, count: 20)))
        let decoded = try STUNMessage(decoding: withLengthField(of: bytes))
        XCTAssertEqual(decoded.attributes.map(\.type), [.username, .messageIntegrity])
        XCTAssertEqual(decoded.unknownComprehensionRequired, [])
        XCTAssertNil(decoded.software)
        XCTAssertTrue(decoded.verifyIntegrity(.sha1, key: key))
    }

    func testOnlyFingerprintCountsAfterMessageIntegritySHA256() throws {
        let key = IntegrityKey.shortTerm(password: "secret")
        var bytes = STUNMessage(type: .bindingRequest, attributes: [.username("alice")])
            .encoded(options: .init(integrityKey: key, integrityAlgorithms: [.sha256]))
        bytes.writeBytes(attribute(0x8022, Array("ignored".utf8)))
        bytes.writeBytes(attribute(0x0008, Array(repeating: 0, count: 20)))
        bytes.writeBytes(attribute(0x001C, Array(repeating: 0, count: 32)))
        let decoded = try STUNMessage(decoding: withLengthField(of: bytes))
        XCTAssertEqual(decoded.attributes.map(\.type), [.username, .messageIntegritySHA256])
        XCTAssertTrue(decoded.verifyIntegrity(.sha256, key: key))
        XCTAssertFalse(decoded.verifyIntegrity(.sha1, key: key))
    }

    func testFingerprintAfterMessageIntegrityAndIgnoredAttributesStillCounts() throws {
        let key = IntegrityKey.shortTerm(password: "secret")
        var bytes = STUNMessage(type: .bindingRequest, attributes: [.username("alice")]).encoded(options: .init(integrityKey: key))
        bytes.writeBytes(attribute(0x8022, Array("ignored".utf8)))
        // Append a FINGERPRINT computed over everything before it, as a sender would.
        bytes = withLengthField(of: bytes)
        STUNMessage.finish(&bytes, messageStart: 0, transactionID: TransactionID(high: 0, middle: 0, low: 0),
                           options: .init(fingerprint: true))
        let decoded = try STUNMessage(decoding: bytes)
        XCTAssertEqual(decoded.attributes.map(\.type), [.username, .messageIntegrity, .fingerprint])

        var corrupted = bytes
        corrupted.setInteger(UInt8(ascii: "I"), at: corrupted.writerIndex - 8 - 8) // inside "ignored"
        XCTAssertDecodingFails(corrupted, with: .badFingerprint)
    }

    func testUnknownComprehensionRequiredAttributesAreReportedInOrder() throws {
        let bytes = message(body: attribute(0x0024, [1, 2, 3, 4]) + attribute(0x8029, [1, 2, 3, 4])
            + attribute(0x0031, []) + attribute(0x0024, [5, 6, 7, 8]))
        let decoded = try STUNMessage(decoding: bytes)
        XCTAssertEqual(decoded.unknownComprehensionRequired.map(\.rawValue), [0x0024, 0x0031, 0x0024])
        XCTAssertEqual(decoded.attributes.count, 4)
    }

    func testFramedLengthReadsTheHeaderLengthOnlyOnceTwentyBytesArrived() {
        let whole = message(body: attribute(0x8022, Array("abcd".utf8)))
        XCTAssertEqual(STUNMessage.framedLength(of: whole), 28)
        XCTAssertEqual(STUNMessage.framedLength(of: whole.getSlice(at: 0, length: 20)!), 28)
        for length in 0..<20 {
            XCTAssertNil(STUNMessage.framedLength(of: whole.getSlice(at: 0, length: length)!), "\(length) bytes")
        }
    }
}
