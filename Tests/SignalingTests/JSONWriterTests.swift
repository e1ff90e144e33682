@testable import Signaling
import XCTest

final class JSONWriterTests: XCTestCase {
    /// Plain strings are appended whole, the rest scalar by scalar: both must give JSON that parses back to the input.
    func testStringsRoundTripWhetherOrNotTheyNeedEscaping() throws {
        let strings = ["", "peer-1f3a", "room:a@b.c", "é ü 漢字 🎉", "arrow → here", "quote \" and \\ backslash",
                       "line\nbreak\ttab\r", "\u{0}\u{1f}", "separators \u{2028} \u{2029}"]
        for string in strings {
            var bytes: [UInt8] = []
            JSONWriter.appendString(string, to: &bytes)
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertEqual(try JSONParser.parse(text), .string(string), text)
            XCTAssertFalse(text.unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{2029}" || $0.value < 0x20 }, text)
        }
        var plain: [UInt8] = []
        JSONWriter.appendString("peer-1f3a", to: &plain)
        XCTAssertEqual(String(decoding: plain, as: UTF8.self), "\"peer-1f3a\"")
    }
}
