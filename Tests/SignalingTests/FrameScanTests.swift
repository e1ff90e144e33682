import Signaling
import XCTest

/// A client frame is read in one pass that builds only the members it needs and checks `data` without building it.
/// These tests hold that pass to the full parser: it accepts and refuses exactly the same texts.
final class FrameScanTests: XCTestCase {
    private let limits = SignalingLimits()

    private func signal(data: String) -> String { #"{"type":"signal","room":"r","to":"p","data":"# + data + "}" }

    /// Whether the frame pass took the text as a JSON object (any refusal of shape comes later, as its own error).
    private func scanned(_ text: String) -> Bool {
        if case .failure(let error) = ReceivedFrame.parse(text, limits: limits).frame,
           error.message == "frame is not a JSON object" {
            return false
        }
        return true
    }

    private func fullParser(_ text: String) -> Bool { (try? JSONParser.parseObject(text)) != nil }

    func testDataIsCheckedAsStrictlyAsByTheFullParser() {
        let values = [
            "{}", "[]", #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, #"[0,-0,1.5,-2.25e3,1E-7,3e+2]"#,
            #""\u00e9\ud83d\ude00 \n\t\"\\\/""#, "[1,]", "{,}", #"{"a"}"#, "01", "1.", "-", "1e", "+1", "tru",
            "NaN", #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00""#, "1e999", "-1e400", "1e308",
            String(repeating: "9", count: 400), String(repeating: "9", count: 310) + ".5", "\"\u{01}\"",
            #""unterminated"#, "[1 2]", #"{"a":1,}"#,
        ]
        for value in values {
            let text = signal(data: value)
            XCTAssertEqual(scanned(text), fullParser(text), value)
        }
    }

    func testDataNestingIsBoundedLikeTheFullParser() {
        for depth in [62, 63, 64, 65] {
            let value = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            let text = signal(data: value)
            XCTAssertEqual(scanned(text), fullParser(text), "depth \(depth)")
        }
        XCTAssertFalse(scanned(signal(data: String(repeating: "[", count: 100_000))))
    }

    func testDataIsForwardedAsWrittenAndTheLastRepeatedMemberWins() {
        let text = #"{"type":"signal","room":"a","to":"x","data": {"sdp" : "v=0\r\n", "n": [1, 2.50]} ,"room":"r","data":{"k" : 1}}"#
        XCTAssertEqual(ReceivedFrame.parse(text, limits: limits).frame, .success(.signal(room: "r", target: .peer("x"), data: #"{"k" : 1}"#)))
    }

    func testMembersOfTheWrongKindAreRefusedByName() {
        let frame = ReceivedFrame.parse(#"{"type":"signal","room":7,"to":"x","data":1}"#, limits: limits).frame
        guard case .failure(let error) = frame else { return XCTFail("accepted a numeric room") }
        XCTAssertEqual(error.message, "room must be a string")
        XCTAssertEqual(ReceivedFrame.parse(#"{"id":"a","type":"ping","time":[1,{"b":null}],"extra":{"x":[1e5]}}"#, limits: limits).id,
                       .string("a"))
    }

    func testRandomFramesAgreeWithTheFullParser() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,.-+eE0123456789tfnrul\ "abc"#.utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...30, using: &generator)
            let value = String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            for text in [signal(data: value), #"{"type":"ping","x":"# + value + "}", value] {
                XCTAssertEqual(scanned(text), fullParser(text), text)
            }
        }
    }
}
