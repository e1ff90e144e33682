import Crypto
import STUN
import XCTest

/// Our keyed HMAC against the published vectors (RFC 4231 for SHA-256, RFC 2202 for SHA-1), including a key longer
/// than the hash's block, which is hashed first.
final class HMACKeyTests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private func mac<H: HashFunction>(_: H.Type, key: [UInt8], _ text: String) -> String {
        hex(Array(text.utf8).withUnsafeBytes { HMACKey<H>(key).authenticationCode(for: $0) })
    }

    func testRFC4231SHA256() {
        XCTAssertEqual(mac(SHA256.self, key: [UInt8](repeating: 0x0B, count: 20), "Hi There"),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(mac(SHA256.self, key: [UInt8](repeating: 0xAA, count: 131),
                           "Test Using Larger Than Block-Size Key - Hash Key First"),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func testRFC2202SHA1() {
        XCTAssertEqual(mac(Insecure.SHA1.self, key: [UInt8](repeating: 0x0B, count: 20), "Hi There"),
                       "b617318655057264e28bc0b6fb378c8ef146be00")
        XCTAssertEqual(mac(Insecure.SHA1.self, key: [UInt8](repeating: 0xAA, count: 80),
                           "Test Using Larger Than Block-Size Key - Hash Key First"),
                       "aa4ae5e15272d00e95705637ce8a3b55ed402112")
    }

    /// One key, many computations: each starts from the keyed state, untouched by the ones before.
    func testComputationsDoNotDisturbTheKey() {
        let key = HMACKey<SHA256>([UInt8](repeating: 0x0B, count: 20))
        var split = key.start()
        Array("Hi ".utf8).withUnsafeBytes { split.update($0) }
        _ = Array("noise".utf8).withUnsafeBytes { key.authenticationCode(for: $0) }
        Array("There".utf8).withUnsafeBytes { split.update($0) }
        XCTAssertEqual(hex(split.finalize()), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }
}
