@testable import Webhooks
import XCTest

final class WebhookSignatureTests: XCTestCase {
    let body = Array(#"{"id":"evt_1","type":"room.started"}"#.utf8)

    /// The expected values are Python's `hmac.new(secret, b"1700000000." + body, hashlib.sha256).hexdigest()`.
    func testOneEntryPerSecretMatchingAnIndependentHMAC() {
        let header = WebhookSignature.header(timestamp: "1700000000", body: body, secrets: ["first-secret", "second-secret"])
        XCTAssertEqual(header, "v1=45ed2d9d3ab7910048c1f59c245791fff00f0c0d1772febed6863e8d0427eb60,"
                             + "v1=e771577a19c57967ef9713b8e46a80cead979cddff61e7f462fbb8fa6dd307e8")
    }

    func testEitherSecretVerifiesAndAnyChangeFails() {
        let header = WebhookSignature.header(timestamp: "1700000000", body: body, secrets: ["first-secret", "second-secret"])
        XCTAssertTrue(WebhookSignature.verify(header: header, timestamp: "1700000000", body: body, secret: "first-secret"))
        XCTAssertTrue(WebhookSignature.verify(header: header, timestamp: "1700000000", body: body, secret: "second-secret"))
        XCTAssertFalse(WebhookSignature.verify(header: header, timestamp: "1700000000", body: body, secret: "third-secret"))
        XCTAssertFalse(WebhookSignature.verify(header: header, timestamp: "1700000001", body: body, secret: "first-secret"))
        XCTAssertFalse(WebhookSignature.verify(header: header, timestamp: "1700000000", body: body + [0x20], secret: "first-secret"))
    }
}
