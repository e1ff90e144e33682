import NIOCore
import STUN
import XCTest

/// SplitMix64: a tiny deterministic generator so property and robustness tests replay identically from a seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ByteBuffer {
    /// A buffer from hex text; whitespace is ignored so vectors can be laid out as in the RFC.
    init(hex: String) {
        let digits = hex.filter { !$0.isWhitespace }
        precondition(digits.count % 2 == 0, "odd number of hex digits")
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            bytes.append(UInt8(digits[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes: bytes)
    }

    var allBytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes)! }
}

/// Asserts that decoding `bytes` throws exactly `expected`.
func XCTAssertDecodingFails(
    _ bytes: ByteBuffer, with expected: STUNDecodingError, options: STUNMessage.DecodingOptions = .init(),
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let message = try STUNMessage(decoding: bytes, options: options)
        XCTFail("decoded \(message.type) with \(message.attributes.count) attributes, expected \(expected)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}
