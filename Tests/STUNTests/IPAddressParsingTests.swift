import NIOCore
import STUN
import XCTest

/// Textual IP and transport addresses: parsing (RFC 4291 §2.2) and canonical formatting (RFC 5952).
final class IPAddressParsingTests: XCTestCase {
    func testIPv4ParsesAndFormats() {
        XCTAssertEqual(IPAddress("192.0.2.1"), .v4(0xC000_0201))
        XCTAssertEqual(IPAddress("0.0.0.0"), .v4(0))
        XCTAssertEqual(IPAddress("255.255.255.255"), .v4(.max))
        XCTAssertEqual(IPAddress.v4(0xC000_0201).description, "192.0.2.1")
        XCTAssertEqual(IPAddress.ipv4Loopback.description, "127.0.0.1")
        XCTAssertEqual(IPAddress("192.0.2.1")?.family, .ipv4)
    }

    func testIPv4RejectsJunk() {
        for text in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.", ".1.2.3", "a.b.c.d", " 1.2.3.4",
                     "1.2.3.4 ", "1.2.3.0004", "+1.2.3.4", "1.2.3.-0", "1.2.3.+4", "١.٢.٣.٤", "0x1.2.3.4"] {
            XCTAssertNil(IPAddress(text), "\"\(text)\"")
        }
    }

    func testIPv6ParsesFullAndCompressedForms() {
        XCTAssertEqual(IPAddress("::"), .v6(high: 0, low: 0))
        XCTAssertEqual(IPAddress("::1"), .ipv6Loopback)
        XCTAssertEqual(IPAddress("2001:db8::1"), .v6(high: 0x2001_0DB8_0000_0000, low: 1))
        XCTAssertEqual(IPAddress("2001:DB8:0:0:0:0:0:1"), .v6(high: 0x2001_0DB8_0000_0000, low: 1))
        XCTAssertEqual(IPAddress("2001:db8:1234:5678:11:2233:4455:6677"),
                       .v6(high: 0x2001_0DB8_1234_5678, low: 0x0011_2233_4455_6677))
        XCTAssertEqual(IPAddress("1::"), .v6(high: 0x0001_0000_0000_0000, low: 0))
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:7::"), .v6(high: 0x0001_0002_0003_0004, low: 0x0005_0006_0007_0000))
        XCTAssertEqual(IPAddress("::2:3:4:5:6:7:8"), .v6(high: 0x0000_0002_0003_0004, low: 0x0005_0006_0007_0008))
        XCTAssertEqual(IPAddress("fe80::1")?.family, .ipv6)
    }

    func testIPv6ParsesEmbeddedIPv4() {
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1"), .v6(high: 0, low: 0x0000_FFFF_C000_0201))
        XCTAssertEqual(IPAddress("64:ff9b::192.0.2.33"), .v6(high: 0x0064_FF9B_0000_0000, low: 0xC000_0221))
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:192.0.2.1"), .v6(high: 0x0001_0002_0003_0004, low: 0x0005_0006_C000_0201))
        XCTAssertEqual(IPAddress("::192.0.2.1"), .v6(high: 0, low: 0xC000_0201))
    }

    func testIPv6RejectsJunk() {
        for text in [":", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
                     "12345::", "g::", ":1::", "1:2:3:4:5:6:7:", ":1:2:3:4:5:6:7:8", "1.2.3.4::", "::1.2.3",
                     "::1.2.3.4:5", "::256.0.0.1", "1:2:3:4:5:6:7:1.2.3.4", "+1::", "::-0", "::+f", "[::1]", "::1%eth0",
                     " ::1", "::1 "] {
            XCTAssertNil(IPAddress(text), "\"\(text)\"")
        }
    }

    func testIPv6FormatsPerRFC5952() {
        let cases: [(String, String)] = [
            ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), // one zero group is not compressed
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), // the longest run wins
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), // on a tie, the first run
            ("2001:DB8::ABCD", "2001:db8::abcd"), // lower case
            ("0:0:0:0:0:0:0:0", "::"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("1:0:0:0:0:0:0:1", "1::1"),
            ("0:0:1:0:0:0:0:0", "0:0:1::"),
            ("2001:db8:1234:5678:11:2233:4455:6677", "2001:db8:1234:5678:11:2233:4455:6677"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(IPAddress(input)?.description, expected, input)
        }
    }

    func testFormattedAddressesParseBackToThemselves() {
        var random = RandomMessages(seed: 5952)
        for index in 0..<2000 {
            // Sprinkle zero groups so that compression is exercised.
            var ip = random.ip()
            if case .v6(var high, var low) = ip, index % 2 == 0 {
                for shift in stride(from: 0, to: 64, by: 16) where random.bool() {
                    high &= ~(0xFFFF << UInt64(shift))
                    low &= ~(0xFFFF << UInt64((shift + 16) % 64))
                }
                ip = .v6(high: high, low: low)
            }
            XCTAssertEqual(IPAddress(ip.description), ip, ip.description)
            XCTAssertEqual(IPAddress(bytes: ip.bytes), ip)
            let address = TransportAddress(ip: ip, port: random.u16())
            XCTAssertEqual(TransportAddress(address.description), address, address.description)
        }
    }

    func testBytesRoundTripAndRejectOtherLengths() {
        XCTAssertEqual(IPAddress(bytes: [192, 0, 2, 1]), .v4(0xC000_0201))
        XCTAssertEqual(IPAddress.v4(0xC000_0201).bytes, [192, 0, 2, 1])
        XCTAssertEqual(IPAddress(bytes: Array(repeating: 0, count: 15) + [1]), .ipv6Loopback)
        XCTAssertNil(IPAddress(bytes: [1, 2, 3]))
        XCTAssertNil(IPAddress(bytes: [UInt8](repeating: 0, count: 5)))
    }

    func testTransportAddressParsesPortsAndBrackets() {
        XCTAssertEqual(TransportAddress("192.0.2.1:3478"), TransportAddress(ip: .v4(0xC000_0201), port: 3478))
        XCTAssertEqual(TransportAddress("[2001:db8::1]:3478"),
                       TransportAddress(ip: .v6(high: 0x2001_0DB8_0000_0000, low: 1), port: 3478))
        XCTAssertEqual(TransportAddress("[::1]:0"), TransportAddress(ip: .ipv6Loopback, port: 0))
        XCTAssertEqual(TransportAddress("192.0.2.1:65535")?.port, 65535)
        XCTAssertEqual(TransportAddress("[::1]", defaultPort: 3478), TransportAddress(ip: .ipv6Loopback, port: 3478))
        XCTAssertEqual(TransportAddress("::1", defaultPort: 3478), TransportAddress(ip: .ipv6Loopback, port: 3478))
        XCTAssertEqual(TransportAddress("192.0.2.1", defaultPort: 5349), TransportAddress(ip: .v4(0xC000_0201), port: 5349))
        XCTAssertEqual(TransportAddress("192.0.2.1:80", defaultPort: 5349)?.port, 80)
    }

    func testTransportAddressFormatsWithBracketsForIPv6() {
        XCTAssertEqual(TransportAddress(ip: .v4(0xC000_0201), port: 3478).description, "192.0.2.1:3478")
        XCTAssertEqual(TransportAddress(ip: .v6(high: 0x2001_0DB8_0000_0000, low: 1), port: 3478).description,
                       "[2001:db8::1]:3478")
    }

    func testTransportAddressRejectsJunk() {
        for text in ["", "192.0.2.1", "::1", "[::1]", "192.0.2.1:", "192.0.2.1:65536", "192.0.2.1:-1", "192.0.2.1:+80",
                     "192.0.2.1:80x", "[::1]:", "[::1", "[::1]x", "[::1]:+80", "[::1]:65536", "[]:80", "[::1]]:80",
                     "example.org:3478", ":3478", "2001:db8::1:3478x", "192.0.2.1:3478:1"] {
            XCTAssertNil(TransportAddress(text), "\"\(text)\"")
        }
    }
}

final class SocketAddressConversionTests: XCTestCase {
    func testRoundTripThroughSocketAddress() throws {
        for text in ["127.0.0.1:3478", "203.0.113.9:1", "[::1]:3478", "[2001:db8::1:2]:65535", "[::ffff:192.0.2.1]:9"] {
            let address = try XCTUnwrap(TransportAddress(text), text)
            let socket = address.socketAddress
            XCTAssertEqual(TransportAddress(socket), address, text)
            XCTAssertEqual(socket.port, Int(address.port))
            if !text.contains("ffff") { XCTAssertEqual(socket.ipAddress, "\(address.ip)", text) }
        }
    }
}
