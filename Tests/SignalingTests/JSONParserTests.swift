import Foundation
import Signaling
import XCTest

final class JSONParserTests: XCTestCase {
    /// What Foundation makes of the same text, as a JSONValue, for comparison.
    private func foundation(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    func testAgreesWithFoundationOnValidDocuments() throws {
        let documents = [
            #"{}"#, #"[]"#, #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, #" { "spaced" : [ 1 , 2 ] } "#,
            #"{"n":[0,-0,1.5,-2.25e3,1E-7,123456789012,3e+2]}"#, #""\u00e9\ud83d\ude00 \n\t\"\\\/""#,
            #"{"sdp":"v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n","type":"offer"}"#, #"["é", "日本", "🎉"]"#,
            "42", "-1.0", "true", "null", #""""#,
        ]
        for text in documents {
            XCTAssertEqual(try JSONParser.parse(text), foundation(text), text)
        }
    }

    func testDuplicateNamesKeepTheLastValue() throws {
        // RFC 8259 §4 leaves this open; Foundation keeps the first, we keep the last, as JavaScript does.
        XCTAssertEqual(try JSONParser.parse(#"{"dup":1,"dup":2}"#), .object(["dup": .number(2)]))
    }

    func testRejectsMalformedText() {
        let bad = [
            "", " ", "{", "}", "[1,]", "{,}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1 2]", "01", "1.", ".5", "-",
            "1e", "+1", "tru", "nul", "NaN", "Infinity", #""unterminated"#, "\"\u{01}\"", #""\x""#, #""\u12""#,
            #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, "{} {}", "[1] x", "1e999", "'single'",
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONParser.parse(text), text)
        }
    }

    func testNestingIsBounded() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertThrowsError(try JSONParser.parse(deep))
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSONParser.parse(fine))
        XCTAssertThrowsError(try JSONParser.parse(String(repeating: "[", count: 100_000)))
    }

    func testRawTextOfDataIsKeptExactly() throws {
        let text = #"{"type":"signal","data": {"sdp" : "v=0\r\n", "n": [1, 2.50]} ,"to":"x"}"#
        let (members, raw) = try JSONParser.parseObject(text, keepingRawTextOf: ["data"])
        XCTAssertEqual(raw["data"], #"{"sdp" : "v=0\r\n", "n": [1, 2.50]}"#)
        XCTAssertNil(raw["to"])
        XCTAssertEqual(members["to"], .string("x"))
        XCTAssertThrowsError(try JSONParser.parseObject("[1]"))
    }

    func testRandomBytesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,.-+eE0123456789tfnrul\ "abc"#.utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...40, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let text = String(decoding: bytes, as: UTF8.self)
            let ours = try? JSONParser.parse(text)
            // Wherever ours accepts, Foundation must agree on the value (the reverse may differ on leniency).
            if let ours, let theirs = foundation(text) { XCTAssertEqual(ours, theirs, text) }
        }
    }
}
