import STUN
import TURN
import XCTest

final class CIDRTests: XCTestCase {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    func testIPv4BlockParsesAndContainsItsAddresses() throws {
        let block = try XCTUnwrap(CIDR("10.0.0.0/8"))
        XCTAssertEqual(block.address, ip("10.0.0.0"))
        XCTAssertEqual(block.prefixLength, 8)
        XCTAssertTrue(block.contains(ip("10.0.0.0")))
        XCTAssertTrue(block.contains(ip("10.255.255.255")))
        XCTAssertFalse(block.contains(ip("11.0.0.0")))
        XCTAssertFalse(block.contains(ip("9.255.255.255")))
    }

    func testIPv6BlockParsesAndContainsItsAddresses() throws {
        let block = try XCTUnwrap(CIDR("fe80::/10"))
        XCTAssertEqual(block.prefixLength, 10)
        XCTAssertTrue(block.contains(ip("fe80::1")))
        XCTAssertTrue(block.contains(ip("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")))
        XCTAssertFalse(block.contains(ip("fec0::1")))
        XCTAssertFalse(block.contains(ip("fe7f::1")))
    }

    func testPrefixesAcrossTheIPv6HalvesMatchBitExactly() throws {
        let block = try XCTUnwrap(CIDR("2001:db8:0:0:8000::/65"))
        XCTAssertTrue(block.contains(ip("2001:db8::8000:0:0:1")))
        XCTAssertFalse(block.contains(ip("2001:db8::7fff:ffff:ffff:ffff")))
        let upper = try XCTUnwrap(CIDR("2001:db8::/63"))
        XCTAssertTrue(upper.contains(ip("2001:db8:0:1::")))
        XCTAssertFalse(upper.contains(ip("2001:db8:0:2::")))
    }

    func testBareAddressIsASingleHost() throws {
        let v4 = try XCTUnwrap(CIDR("192.0.2.7"))
        XCTAssertEqual(v4.prefixLength, 32)
        XCTAssertTrue(v4.contains(ip("192.0.2.7")))
        XCTAssertFalse(v4.contains(ip("192.0.2.8")))
        let v6 = try XCTUnwrap(CIDR("2001:db8::7"))
        XCTAssertEqual(v6.prefixLength, 128)
        XCTAssertTrue(v6.contains(ip("2001:db8::7")))
        XCTAssertFalse(v6.contains(ip("2001:db8::8")))
    }

    func testHostBitsAreMaskedOffSoEqualBlocksCompareEqual() throws {
        let written = try XCTUnwrap(CIDR("10.1.2.3/8"))
        XCTAssertEqual(written.address, ip("10.0.0.0"))
        XCTAssertEqual(written, CIDR("10.0.0.0/8"))
        XCTAssertEqual(CIDR("fe80::1234/10")?.address, ip("fe80::"))
        XCTAssertEqual(Set([CIDR("10.9.9.9/8")!, CIDR("10.0.0.0/8")!]).count, 1)
    }

    func testZeroPrefixContainsTheWholeFamilyOnly() throws {
        let v4 = try XCTUnwrap(CIDR("0.0.0.0/0"))
        XCTAssertTrue(v4.contains(ip("255.255.255.255")))
        XCTAssertFalse(v4.contains(ip("::1")))
        let v6 = try XCTUnwrap(CIDR("::/0"))
        XCTAssertTrue(v6.contains(ip("ffff::1")))
        XCTAssertFalse(v6.contains(ip("1.2.3.4")))
    }

    func testFamiliesNeverContainEachOther() throws {
        XCTAssertFalse(CIDR("127.0.0.0/8")!.contains(ip("::ffff:127.0.0.1")))
        XCTAssertFalse(CIDR("::ffff:0:0/96")!.contains(ip("127.0.0.1")))
    }

    func testPrefixLongerThanTheFamilyIsRejected() {
        XCTAssertNil(CIDR("10.0.0.0/33"))
        XCTAssertNil(CIDR("::/129"))
        XCTAssertNotNil(CIDR("10.0.0.0/32"))
        XCTAssertNotNil(CIDR("::/128"))
    }

    func testJunkIsRejected() {
        for text in ["", "/8", "10.0.0.0/", "10.0.0.0/8/9", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/ 8", " 10.0.0.0/8",
                     "10.0.0/8", "256.0.0.0/8", "10.0.0.0/x", "fe80::1%eth0/64", "example.com/24", "::g/64",
                     "1:2:3:4:5:6:7:8:9/64", "10.0.0.0/0008"] {
            XCTAssertNil(CIDR(text), "accepted \(text.debugDescription)")
        }
    }

    func testDescriptionIsCanonical() {
        XCTAssertEqual(CIDR("10.1.2.3/8")?.description, "10.0.0.0/8")
        XCTAssertEqual(CIDR("2001:DB8:0:0::1/32")?.description, "2001:db8::/32")
        XCTAssertEqual(CIDR("127.0.0.1")?.description, "127.0.0.1/32")
    }

    func testProgrammaticInitClampsThePrefix() {
        XCTAssertEqual(CIDR(address: ip("10.1.2.3"), prefixLength: 40).prefixLength, 32)
        XCTAssertEqual(CIDR(address: ip("10.1.2.3"), prefixLength: -1), CIDR("0.0.0.0/0"))
        XCTAssertEqual(CIDR(address: ip("10.1.2.3"), prefixLength: 16), CIDR("10.1.0.0/16"))
    }
}
