import STUN
import TURN
import XCTest

/// Stateless nonces: valid from the address they were issued to until they expire, useless from anywhere else.
final class NonceIssuerTests: XCTestCase {
    let issuer = NonceIssuer(secret: Array("a nonce secret of thirty-two byte".utf8), lifetime: 600)
    let client = TransportAddress(ip: .v4(0xC000_0201), port: 54321)

    func testANonceIsValidFromItsAddressUntilItExpires() {
        let nonce = issuer.issue(for: client, unixTime: 1_000)
        XCTAssertEqual(issuer.issue(for: client, unixTime: 1_000), nonce, "the same inputs give the same nonce")
        XCTAssertEqual(issuer.validate(nonce, for: client, unixTime: 1_599), .valid)
        XCTAssertEqual(issuer.validate(nonce, for: client, unixTime: 1_600), .stale)
        XCTAssertTrue(NonceIssuer.advertisesPasswordAlgorithms(nonce))
    }

    func testANonceFromAnotherAddressOrTamperedWithIsInvalid() {
        let nonce = issuer.issue(for: client, unixTime: 1_000)
        XCTAssertEqual(issuer.validate(nonce, for: TransportAddress(ip: .v4(0xC000_0202), port: 54321), unixTime: 1_000), .invalid)
        XCTAssertEqual(issuer.validate(nonce, for: TransportAddress(ip: .v4(0xC000_0201), port: 54322), unixTime: 1_000), .valid,
                       "another port of the same host: an RFC 6062 data connection")
        XCTAssertEqual(issuer.validate(nonce, for: TransportAddress(ip: .v6(high: 0x2001_0DB8 << 32, low: 1), port: 54321),
                                       unixTime: 1_000), .invalid)
        let longer = issuer.issue(for: client, unixTime: 1_000_000)
        var forged = Array(nonce.utf8)
        forged[forged.count - 17] = forged[forged.count - 17] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        XCTAssertEqual(issuer.validate(String(decoding: forged, as: UTF8.self), for: client, unixTime: 1_000), .invalid)
        XCTAssertNotEqual(longer, nonce)
        XCTAssertEqual(NonceIssuer(secret: Array("another secret, also thirty-two!".utf8)).validate(nonce, for: client, unixTime: 1_000),
                       .invalid)
    }
}
