import NIOCore
import NIOWebSocket
@testable import SignalingEdge
import XCTest

/// Text frames are unmasked eight bytes at a time into a reused buffer; the result must be what NIOWebSocket's
/// byte-by-byte `unmaskedData` gives, at every length and alignment, and invalid UTF-8 must still be refused.
final class WebSocketUnmaskTests: XCTestCase {
    func testAgreesWithNIOsUnmaskingAtEveryLength() {
        var scratch: [UInt8] = []
        for length in 0...40 {
            let plain = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let key = WebSocketMaskingKey.random()
            var masked = ByteBuffer(bytes: plain)
            masked.webSocketMask(key)
            // A payload that does not start at the buffer's first byte, as a decoder's slice may not.
            var offset = ByteBuffer(bytes: [0, 0, 0])
            offset.writeImmutableBuffer(masked)
            offset.moveReaderIndex(forwardBy: 3)
            let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: masked)
            let expected = String(decoding: frame.unmaskedData.readableBytesView, as: UTF8.self)
            XCTAssertEqual(WebSocketMessageReader.unmaskedText(masked, key: key, scratch: &scratch), expected, "length \(length)")
            XCTAssertEqual(WebSocketMessageReader.unmaskedText(offset, key: key, scratch: &scratch), expected, "length \(length), offset")
        }
    }

    func testInvalidUTF8IsRefused() {
        var scratch: [UInt8] = []
        let key = WebSocketMaskingKey.random()
        for bad: [UInt8] in [[0xFF], [0xC3], Array("valid then ".utf8) + [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]] {
            var masked = ByteBuffer(bytes: bad)
            masked.webSocketMask(key)
            XCTAssertNil(WebSocketMessageReader.unmaskedText(masked, key: key, scratch: &scratch), "\(bad)")
        }
        var good = ByteBuffer(string: "é 日本 🎉 and more than eight bytes")
        good.webSocketMask(key)
        XCTAssertEqual(WebSocketMessageReader.unmaskedText(good, key: key, scratch: &scratch), "é 日本 🎉 and more than eight bytes")
    }
}
