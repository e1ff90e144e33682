import NIOCore
import STUN
import XCTest

/// RFC 8489 §5: method and class bits interleave in the 14-bit message type.
final class MessageTypeTests: XCTestCase {
    func testKnownMethodsAndClassesHaveTheirWireValues() {
        let table: [(STUNMethod, STUNClass, UInt16)] = [
            (.binding, .request, 0x0001), (.binding, .indication, 0x0011),
            (.binding, .successResponse, 0x0101), (.binding, .errorResponse, 0x0111),
            (.allocate, .request, 0x0003), (.allocate, .successResponse, 0x0103), (.allocate, .errorResponse, 0x0113),
            (.refresh, .request, 0x0004), (.refresh, .successResponse, 0x0104), (.refresh, .errorResponse, 0x0114),
            (.send, .indication, 0x0016), (.data, .indication, 0x0017),
            (.createPermission, .request, 0x0008), (.createPermission, .successResponse, 0x0108),
            (.createPermission, .errorResponse, 0x0118),
            (.channelBind, .request, 0x0009), (.channelBind, .successResponse, 0x0109),
            (.channelBind, .errorResponse, 0x0119),
        ]
        for (method, messageClass, wire) in table {
            let type = STUNMessageType(method: method, messageClass: messageClass)
            XCTAssertEqual(type.wireValue, wire, "\(type)")
            XCTAssertEqual(STUNMessageType(wireValue: wire), type, "0x\(String(wire, radix: 16))")
        }
        XCTAssertEqual(STUNMessageType.bindingRequest.wireValue, 0x0001)
        XCTAssertEqual(STUNMessageType.bindingSuccess.wireValue, 0x0101)
        XCTAssertEqual(STUNMessageType.bindingError.wireValue, 0x0111)
    }

    func testEveryMethodAndClassRoundTripsThroughDistinctWireValues() {
        var seen = Set<UInt16>()
        for raw in UInt16(0)...0xFFF {
            for messageClass in STUNClass.allCases {
                let type = STUNMessageType(method: STUNMethod(rawValue: raw), messageClass: messageClass)
                let wire = type.wireValue
                XCTAssertEqual(wire & 0xC000, 0)
                XCTAssertEqual(STUNMessageType(wireValue: wire), type)
                seen.insert(wire)
            }
        }
        XCTAssertEqual(seen.count, 0x4000, "the 4096 × 4 types fill the 14 bits exactly")
    }

    func testHighestMethodPacksAroundTheClassBits() {
        XCTAssertEqual(STUNMessageType(method: STUNMethod(rawValue: 0xFFF), messageClass: .request).wireValue, 0x3EEF)
        XCTAssertEqual(STUNMessageType(method: STUNMethod(rawValue: 0xFFF), messageClass: .errorResponse).wireValue, 0x3FFF)
        XCTAssertEqual(STUNMessageType(method: STUNMethod(rawValue: 0x080), messageClass: .request).wireValue, 0x0200)
        XCTAssertEqual(STUNMessageType(method: STUNMethod(rawValue: 0x010), messageClass: .request).wireValue, 0x0020)
    }

    func testWireValuesWithLeadingBitsSetAreNotMessageTypes() {
        for wire: UInt16 in [0x4000, 0x4001, 0x8001, 0xC000, 0xFFFF] {
            XCTAssertNil(STUNMessageType(wireValue: wire))
        }
    }

    func testMethodKeepsTwelveBits() {
        XCTAssertEqual(STUNMethod(rawValue: 0xF001), .binding)
        XCTAssertEqual(STUNMethod(rawValue: 0x0123).description, "Method(0x123)")
        XCTAssertEqual(STUNMessageType(method: .channelBind, messageClass: .successResponse).description,
                       "ChannelBind success response")
    }

    func testResponsesKeepMethodTransactionAndCookie() {
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request), cookie: 0x1234_5678)
        let error = request.errorResponse(.unauthorized, attributes: [.realm("example.org")])
        XCTAssertEqual(error.type.wireValue, 0x0113)
        XCTAssertEqual(error.transactionID, request.transactionID)
        XCTAssertEqual(error.cookie, 0x1234_5678)
        XCTAssertEqual(error.errorCode, STUNErrorCode(code: 401, reason: "Unauthorized"))
        XCTAssertEqual(error.realm, "example.org")
    }

    func testTransactionIDBytesRoundTrip() {
        let bytes: [UInt8] = [0xB7, 0xE7, 0xA7, 0x01, 0xBC, 0x34, 0xD6, 0x86, 0xFA, 0x87, 0xDF, 0xAE]
        let id = TransactionID(bytes: bytes)
        XCTAssertEqual(id, TransactionID(high: 0xB7E7_A701, middle: 0xBC34_D686, low: 0xFA87_DFAE))
        XCTAssertEqual(id.bytes, bytes)
        XCTAssertEqual(id.description, "b7e7a701bc34d686fa87dfae")
        XCTAssertNotEqual(TransactionID.random(), TransactionID.random())
    }
}
