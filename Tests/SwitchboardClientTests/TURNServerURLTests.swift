import SwitchboardClient
import XCTest

final class TURNServerURLTests: XCTestCase {
    func testSchemesTransportsAndDefaultPorts() throws {
        let cases: [(String, String, UInt16, TURNServerURL.Transport)] = [
            ("turn:example.org", "example.org", 3478, .udp),
            ("turn:example.org:3479?transport=udp", "example.org", 3479, .udp),
            ("turn:10.0.0.1?transport=tcp", "10.0.0.1", 3478, .tcp),
            ("turns:example.org", "example.org", 5349, .tls),
            ("turns:example.org:443?transport=tcp", "example.org", 443, .tls),
            ("turn:[::1]:3480", "::1", 3480, .udp),
            ("turns:[2001:db8::1]", "2001:db8::1", 5349, .tls),
        ]
        for (text, host, port, transport) in cases {
            let url = try TURNServerURL(text)
            XCTAssertEqual(url.host, host, text)
            XCTAssertEqual(url.port, port, text)
            XCTAssertEqual(url.transport, transport, text)
        }
        XCTAssertEqual(try TURNServerURL("turns:[::1]:443").description, "turns:[::1]:443?transport=tcp")
    }

    func testMalformedURLsSayWhy() {
        for text in ["stun:example.org", "turn:", "turns:example.org?transport=udp", "turn:example.org:0",
                     "turn:example.org:99999", "turn:[::1", "turn:example.org?transport=sctp"] {
            XCTAssertThrowsError(try TURNServerURL(text), text)
        }
    }
}
