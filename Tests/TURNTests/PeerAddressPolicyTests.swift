import STUN
import TURN
import XCTest

final class PeerAddressPolicyTests: XCTestCase {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }
    private let open = PeerAddressPolicy()

    /// Each default block, addresses at both ends of it, and a public neighbour just outside it.
    private let defaultRanges: [(block: String, inside: [String], outside: [String])] = [
        ("0.0.0.0/8", ["0.0.0.0", "0.255.255.255"], ["1.0.0.1"]),
        ("10.0.0.0/8", ["10.0.0.1", "10.255.255.255"], ["11.0.0.1", "9.255.255.254"]),
        ("100.64.0.0/10", ["100.64.0.1", "100.127.255.254"], ["100.63.255.254", "100.128.0.1"]),
        ("127.0.0.0/8", ["127.0.0.1", "127.255.255.254"], ["128.0.0.1", "126.255.255.254"]),
        ("169.254.0.0/16", ["169.254.0.1", "169.254.169.254"], ["169.253.255.254", "169.255.0.1"]),
        ("172.16.0.0/12", ["172.16.0.1", "172.31.255.254"], ["172.15.255.254", "172.32.0.1"]),
        ("192.0.0.0/24", ["192.0.0.1", "192.0.0.255"], ["192.0.1.1"]),
        ("192.0.2.0/24", ["192.0.2.1", "192.0.2.255"], ["192.0.3.1"]),
        ("192.88.99.0/24", ["192.88.99.1", "192.88.99.255"], ["192.88.98.1", "192.88.100.1"]),
        ("192.168.0.0/16", ["192.168.0.1", "192.168.255.254"], ["192.167.255.254", "192.169.0.1"]),
        ("198.18.0.0/15", ["198.18.0.1", "198.19.255.254"], ["198.17.255.254", "198.20.0.1"]),
        ("198.51.100.0/24", ["198.51.100.1", "198.51.100.255"], ["198.51.101.1"]),
        ("203.0.113.0/24", ["203.0.113.1", "203.0.113.255"], ["203.0.114.1", "203.0.112.1"]),
        ("224.0.0.0/4", ["224.0.0.1", "239.255.255.250"], ["223.255.255.254"]),
        ("240.0.0.0/4", ["240.0.0.1", "255.255.255.255"], []),
        ("::/128", ["::"], ["2001:4860:4860::8888"]),
        ("::1/128", ["::1"], []),
        ("64:ff9b:1::/48", ["64:ff9b:1::1", "64:ff9b:1:ffff::1"], ["64:ff9b::8.8.8.8"]),
        ("::/8", ["::2:0:0:1", "ff:ffff::1"], ["200::1"]),
        ("100::/64", ["100::1", "100::ffff:ffff:ffff:ffff"], ["100:0:0:2::1"]),
        ("100:0:0:1::/64", ["100:0:0:1::1", "100:0:0:1:ffff::1"], ["100:0:0:2::1"]),
        // Teredo (2001::/32, here server 65.54.227.120 and client 192.0.2.45 obfuscated), benchmarking, ORCHIDv2.
        ("2001::/23", ["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:20::1", "2001:1ff:ffff::1"],
         ["2001:200::1"]),
        ("5f00::/16", ["5f00::1", "5f00:ffff::1"], ["5f01::1"]),
        ("2001:db8::/32", ["2001:db8::1", "2001:db8:ffff::1"], ["2001:db9::1", "2001:db7::1"]),
        ("3fff::/20", ["3fff::1", "3fff:fff::1"], ["3fff:1000::1"]),
        ("fc00::/7", ["fc00::1", "fd12:3456::1", "fdff:ffff::1"], ["fbff::1"]),
        ("fe80::/10", ["fe80::1", "febf::1"], ["fe7f::1"]),
        ("fec0::/10", ["fec0::1", "feff::1"], []),
        ("ff00::/8", ["ff02::1", "ff0e::101", "ffff::1"], []),
    ]

    func testEveryDefaultRangeIsDeniedAtBothEndsAndItsNeighboursArePermitted() {
        for range in defaultRanges {
            XCTAssertTrue(PeerAddressPolicy.defaultDenied.contains(CIDR(range.block)!), "\(range.block) not in default list")
            for address in range.inside {
                XCTAssertFalse(open.permits(ip(address)), "\(address) in \(range.block) was permitted")
            }
            for address in range.outside {
                XCTAssertTrue(open.permits(ip(address)), "\(address) outside \(range.block) was denied")
            }
        }
    }

    func testTheDefaultListHoldsExactlyTheDocumentedRanges() {
        XCTAssertEqual(Set(PeerAddressPolicy.defaultDenied), Set(defaultRanges.map { CIDR($0.block)! }))
    }

    /// Every IPv6 form that embeds an IPv4 address is judged by that address, or denied whole.
    func testIPv6FormsEmbeddingIPv4AreJudgedByTheirIPv4() {
        let denied = ["::ffff:127.0.0.1", "::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1", "::127.0.0.1", "64:ff9b::127.0.0.1",
                      "64:ff9b::169.254.169.254", "64:ff9b:1::8.8.8.8", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
                      "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:7f00:1::1"]
        for address in denied { XCTAssertFalse(open.permits(ip(address)), "\(address) was permitted") }
        let permitted = ["::ffff:8.8.8.8", "::ffff:0:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1"]
        for address in permitted { XCTAssertTrue(open.permits(ip(address)), "\(address) was denied") }
    }

    func testPublicAddressesArePermitted() {
        for address in ["8.8.8.8", "1.1.1.1", "203.0.114.9", "2001:4860:4860::8888", "2606:4700:4700::1111"] {
            XCTAssertTrue(open.permits(ip(address)), address)
        }
    }

    func testIPv4MappedAddressesAreJudgedByTheirIPv4Address() {
        XCTAssertFalse(open.permits(ip("::ffff:127.0.0.1")))
        XCTAssertFalse(open.permits(ip("::ffff:10.1.2.3")))
        XCTAssertFalse(open.permits(ip("::ffff:169.254.169.254")))
        XCTAssertFalse(open.permits(ip("::ffff:255.255.255.255")))
        XCTAssertTrue(open.permits(ip("::ffff:8.8.8.8")))
    }

    func testNAT64AddressesAreJudgedByTheirIPv4Address() {
        XCTAssertFalse(open.permits(ip("64:ff9b::127.0.0.1")))
        XCTAssertFalse(open.permits(ip("64:ff9b::192.168.1.1")))
        XCTAssertTrue(open.permits(ip("64:ff9b::8.8.8.8")))
    }

    func testIPv4CompatibleAddressesAreJudgedByTheirIPv4Address() {
        XCTAssertFalse(open.permits(ip("::127.0.0.1")))
        XCTAssertFalse(open.permits(ip("::10.0.0.1")))
        XCTAssertTrue(open.permits(ip("::8.8.8.8")))
    }

    func testSixToFourAddressesAreJudgedByTheirIPv4Address() {
        XCTAssertFalse(open.permits(ip("2002:7f00:1::1")))
        XCTAssertFalse(open.permits(ip("2002:c0a8:101::1")))
        XCTAssertTrue(open.permits(ip("2002:808:808::1")))
    }

    func testAllowingLoopbackPunchesAHoleForIPv4AndItsMappedForm() throws {
        let policy = try PeerAddressPolicy.parse(allow: ["127.0.0.0/8"], deny: [])
        XCTAssertTrue(policy.permits(ip("127.0.0.1")))
        XCTAssertTrue(policy.permits(ip("127.1.2.3")))
        XCTAssertTrue(policy.permits(ip("::ffff:127.0.0.1")))
        XCTAssertFalse(policy.permits(ip("10.0.0.1")), "the hole is only as wide as the allowed block")
        XCTAssertFalse(policy.permits(ip("::1")), "IPv6 loopback is IPv6's own and needs ::1 allowed")
    }

    func testAllowingIPv6LoopbackPermitsIt() throws {
        let policy = try PeerAddressPolicy.parse(allow: ["::1"], deny: [])
        XCTAssertTrue(policy.permits(ip("::1")))
        XCTAssertFalse(policy.permits(ip("127.0.0.1")))
    }

    func testAllowingAMappedBlockPermitsTheMappedFormOnly() throws {
        let policy = try PeerAddressPolicy.parse(allow: ["::ffff:10.0.0.0/104"], deny: [])
        XCTAssertTrue(policy.permits(ip("::ffff:10.1.1.1")))
        XCTAssertFalse(policy.permits(ip("10.1.1.1")))
    }

    func testDenyOverridesAllow() throws {
        let policy = try PeerAddressPolicy.parse(allow: ["127.0.0.0/8", "8.8.0.0/16"], deny: ["127.0.0.53", "8.8.8.0/24"])
        XCTAssertTrue(policy.permits(ip("127.0.0.1")))
        XCTAssertFalse(policy.permits(ip("127.0.0.53")))
        XCTAssertFalse(policy.permits(ip("::ffff:127.0.0.53")))
        XCTAssertTrue(policy.permits(ip("8.8.4.4")))
        XCTAssertFalse(policy.permits(ip("8.8.8.8")))
    }

    func testOperatorDenyAppliesToPublicAddressesAndTheirEmbeddedForms() throws {
        let policy = try PeerAddressPolicy.parse(allow: [], deny: ["8.8.8.8", "2606:4700::/32"])
        XCTAssertFalse(policy.permits(ip("8.8.8.8")))
        XCTAssertFalse(policy.permits(ip("::ffff:8.8.8.8")))
        XCTAssertFalse(policy.permits(ip("64:ff9b::8.8.8.8")))
        XCTAssertFalse(policy.permits(ip("2606:4700:4700::1111")))
        XCTAssertTrue(policy.permits(ip("8.8.4.4")))
    }

    func testDenyingTheNAT64PrefixShutsNAT64Off() throws {
        let policy = try PeerAddressPolicy.parse(allow: [], deny: ["64:ff9b::/96"])
        XCTAssertFalse(policy.permits(ip("64:ff9b::8.8.8.8")))
        XCTAssertTrue(policy.permits(ip("8.8.8.8")))
    }

    func testAllowingEverythingStillHonoursDeny() throws {
        let policy = try PeerAddressPolicy.parse(allow: ["0.0.0.0/0", "::/0"], deny: ["169.254.169.254"])
        XCTAssertTrue(policy.permits(ip("10.0.0.1")))
        XCTAssertTrue(policy.permits(ip("fe80::1")))
        XCTAssertFalse(policy.permits(ip("169.254.169.254")))
        XCTAssertFalse(policy.permits(ip("::ffff:169.254.169.254")))
    }

    func testParseTrimsWhitespaceAroundEntries() throws {
        let policy = try PeerAddressPolicy.parse(allow: [" 127.0.0.0/8", "\t::1 "], deny: ["10.0.0.1 "])
        XCTAssertEqual(policy.allow, [CIDR("127.0.0.0/8")!, CIDR("::1")!])
        XCTAssertEqual(policy.deny, [CIDR("10.0.0.1")!])
    }

    func testParseNamesTheBadAllowEntry() {
        XCTAssertThrowsError(try PeerAddressPolicy.parse(allow: ["127.0.0.0/8", "127.0.0.0/33"], deny: [])) { error in
            let invalid = error as? PeerAddressPolicy.InvalidEntry
            XCTAssertEqual(invalid, PeerAddressPolicy.InvalidEntry(list: .allow, entry: "127.0.0.0/33"))
            XCTAssertTrue("\(error)".contains("allow-peer"), "\(error)")
            XCTAssertTrue("\(error)".contains("127.0.0.0/33"), "\(error)")
        }
    }

    func testParseNamesTheBadDenyEntry() {
        XCTAssertThrowsError(try PeerAddressPolicy.parse(allow: [], deny: ["localhost"])) { error in
            XCTAssertEqual(error as? PeerAddressPolicy.InvalidEntry, PeerAddressPolicy.InvalidEntry(list: .deny, entry: "localhost"))
            XCTAssertTrue("\(error)".contains("deny-peer entry 'localhost'"), "\(error)")
        }
    }
}
