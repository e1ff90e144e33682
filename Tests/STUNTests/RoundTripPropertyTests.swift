import Crypto
import NIOCore
import STUN
import XCTest

/// Random messages survive encode → decode unchanged, with and without integrity and fingerprint.
final class RoundTripPropertyTests: XCTestCase {
    static let key = IntegrityKey.shortTerm(password: "round-trip secret")
    static let wrongKey = IntegrityKey.shortTerm(password: "round-trip secreT")
    static let algorithmSets: [[IntegrityAlgorithm]] = [[], [.sha1], [.sha256], [.sha1, .sha256]]

    func testGeneratorCoversEveryNonPositionalAttributeCase() {
        var random = RandomMessages(seed: 1)
        let types = Set((0..<34).map { random.attribute(kind: $0).type })
        XCTAssertEqual(types.count, 34)
        XCTAssertFalse(types.contains(.messageIntegrity))
        XCTAssertFalse(types.contains(.messageIntegritySHA256))
        XCTAssertFalse(types.contains(.fingerprint))
    }

    func testRandomMessagesRoundTripWithEveryIntegrityAndFingerprintCombination() throws {
        var random = RandomMessages(seed: 0x5354_554E)
        for iteration in 0..<4000 {
            let message = random.message()
            let algorithms = Self.algorithmSets[iteration % 4]
            let fingerprint = (iteration / 4) % 2 == 1
            let options = STUNMessage.EncodingOptions(integrityKey: algorithms.isEmpty ? nil : Self.key,
                                                      integrityAlgorithms: algorithms, fingerprint: fingerprint,
                                                      paddingByte: iteration % 3 == 0 ? 0x20 : 0)
            let encoded = message.encoded(options: options)
            let context = "iteration \(iteration), \(algorithms), fingerprint \(fingerprint)"

            let decoded: STUNMessage
            do {
                decoded = try STUNMessage(decoding: encoded, options: .init(acceptClassic: true))
            } catch {
                XCTFail("\(context): \(error) for \(message.attributes)")
                continue
            }
            XCTAssertEqual(decoded.type, message.type, context)
            XCTAssertEqual(decoded.transactionID, message.transactionID, context)
            XCTAssertEqual(decoded.cookie, message.cookie, context)
            XCTAssertEqual(decoded.strippingIntegrityAndFingerprint.attributes, message.attributes, context)
            let expectedUnknown = message.attributes.compactMap { attribute -> STUNAttributeType? in
                if case .unknown(let type, _) = attribute, type.isComprehensionRequired { return type }
                return nil
            }
            XCTAssertEqual(decoded.unknownComprehensionRequired, expectedUnknown, context)

            let trailer = decoded.attributes.suffix(algorithms.count + (fingerprint ? 1 : 0)).map(\.type)
            XCTAssertEqual(trailer, algorithms.map { $0 == .sha1 ? .messageIntegrity : .messageIntegritySHA256 }
                + (fingerprint ? [.fingerprint] : []), context)
            for algorithm in [IntegrityAlgorithm.sha1, .sha256] {
                XCTAssertEqual(decoded.verifyIntegrity(algorithm, key: Self.key), algorithms.contains(algorithm),
                               "\(context), \(algorithm)")
                XCTAssertFalse(decoded.verifyIntegrity(algorithm, key: Self.wrongKey), "\(context), \(algorithm)")
            }
            XCTAssertEqual(decoded.fingerprint != nil, fingerprint, context)

            // Decoding and re-encoding with the same options gives the same bytes.
            XCTAssertEqual(decoded.strippingIntegrityAndFingerprint.encoded(options: options).allBytes, encoded.allBytes, context)
        }
    }

    func testMessageIntegritySHA256VerifiesWithRightKeyOnly() throws {
        let message = STUNMessage(type: .bindingRequest, attributes: [.username("alice"), .software("Switchboard")])
        let encoded = message.encoded(options: .init(integrityKey: Self.key, integrityAlgorithms: [.sha256], fingerprint: true))
        let decoded = try STUNMessage(decoding: encoded)
        guard case .messageIntegritySHA256(let mac)? = decoded.attribute(.messageIntegritySHA256) else {
            return XCTFail("no MESSAGE-INTEGRITY-SHA256 in \(decoded.attributes)")
        }
        XCTAssertEqual(mac.count, 32)
        XCTAssertTrue(decoded.verifyIntegrity(.sha256, key: Self.key))
        XCTAssertFalse(decoded.verifyIntegrity(.sha256, key: Self.wrongKey))
        XCTAssertFalse(decoded.verifyIntegrity(.sha1, key: Self.key), "there is no MESSAGE-INTEGRITY")
    }

    func testBothIntegrityAttributesVerifyWhenSHA256FollowsSHA1() throws {
        let message = STUNMessage(type: .bindingRequest, attributes: [.username("alice")])
        let encoded = message.encoded(options: .init(integrityKey: Self.key, integrityAlgorithms: [.sha1, .sha256]))
        let decoded = try STUNMessage(decoding: encoded)
        XCTAssertEqual(decoded.attributes.map(\.type), [.username, .messageIntegrity, .messageIntegritySHA256])
        XCTAssertTrue(decoded.verifyIntegrity(.sha1, key: Self.key))
        XCTAssertTrue(decoded.verifyIntegrity(.sha256, key: Self.key))
        XCTAssertFalse(decoded.verifyIntegrity(.sha256, key: Self.wrongKey))
    }

    func testTruncatedMessageIntegritySHA256FromPeerVerifies() throws {
        // RFC 8489 §14.6: a sender may truncate the HMAC to 16–32 bytes (a multiple of 4); the header length it
        // hashes then counts the shortened attribute. Build such a message by hand with 16- and 24-byte HMACs.
        for macLength in [16, 24, 32] {
            var bytes = STUNMessage(type: .bindingRequest, attributes: [.username("alice")]).encoded()
            bytes.setInteger(UInt16(bytes.readableBytes - 20 + 4 + macLength), at: 2)
            var hmac = HMAC<SHA256>(key: SymmetricKey(data: Self.key.bytes))
            hmac.update(data: bytes.allBytes)
            let mac = Array(Array(hmac.finalize()).prefix(macLength))
            bytes.writeInteger(UInt16(0x001C))
            bytes.writeInteger(UInt16(macLength))
            bytes.writeBytes(mac)

            let decoded = try STUNMessage(decoding: bytes)
            XCTAssertEqual(decoded.attribute(.messageIntegritySHA256), .messageIntegritySHA256(mac))
            XCTAssertTrue(decoded.verifyIntegrity(.sha256, key: Self.key), "\(macLength)-byte HMAC")
            XCTAssertFalse(decoded.verifyIntegrity(.sha256, key: Self.wrongKey), "\(macLength)-byte HMAC")
        }
    }

    func testOverlongTextIsCutOnWholeCharactersWhenEncoding() throws {
        let long = String(repeating: "日", count: 200) // 600 bytes
        let message = STUNMessage(type: .bindingRequest, attributes: [.username(long)])
        let decoded = try STUNMessage(decoding: message.encoded())
        XCTAssertEqual(decoded.username, String(repeating: "日", count: 169)) // 507 bytes ≤ 508
    }
}
