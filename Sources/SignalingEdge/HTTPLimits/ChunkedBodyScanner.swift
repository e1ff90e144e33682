/// Follows a chunked request body (RFC 9112 §7.1) byte by byte, so the request guard knows where it ends and the
/// next request head begins, and can hold the body to its size limit. It only reads the framing: the bytes go on
/// to the framework's parser untouched.
struct ChunkedBodyScanner: Sendable {
    enum Outcome: Equatable {
        /// Every byte given belongs to the body, which goes on.
        case needsMore
        /// The body ends after this many of the bytes given.
        case complete(Int)
        case refused(HTTPRefusal)
    }

    private enum Step: Sendable {
        case size(value: Int, digits: Int, inExtension: Bool)
        case sizeLineEnd(value: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailer(lineLength: Int)
    }

    private var step = Step.size(value: 0, digits: 0, inExtension: false)
    private var bodyBytes = 0
    private var trailerBytes = 0

    mutating func scan(_ bytes: some Sequence<UInt8>, limits: HTTPRequestLimits) -> Outcome {
        var taken = 0
        for byte in bytes {
            taken += 1
            switch step {
            case .size(let value, let digits, let inExtension):
                if byte == UInt8(ascii: "\r") {
                    step = .sizeLineEnd(value: value)
                } else if byte == UInt8(ascii: "\n") {
                    guard digits > 0 else { return .refused(.badRequest("malformed chunk size")) }
                    step = value == 0 ? .trailer(lineLength: 0) : .data(remaining: value)
                } else if inExtension {
                    guard byte == UInt8(ascii: "\t") || (byte >= 0x20 && byte != 0x7F) else {
                        return .refused(.badRequest("malformed chunk extension"))
                    }
                    trailerBytes += 1
                    guard trailerBytes <= limits.maxHeaderBytes else { return .refused(.headerTooLarge("chunk extensions too large")) }
                } else if let digit = Self.hexValue(byte) {
                    guard digits < 8 else { return .refused(.bodyTooLarge) }
                    step = .size(value: value << 4 | digit, digits: digits + 1, inExtension: false)
                } else if byte == UInt8(ascii: ";") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                    guard digits > 0 else { return .refused(.badRequest("malformed chunk size")) }
                    step = .size(value: value, digits: digits, inExtension: true)
                } else {
                    return .refused(.badRequest("malformed chunk size"))
                }
                if case .data(let size) = step {
                    bodyBytes += size
                    guard bodyBytes <= limits.maxBodyBytes else { return .refused(.bodyTooLarge) }
                }
            case .sizeLineEnd(let value):
                guard byte == UInt8(ascii: "\n") else { return .refused(.badRequest("malformed chunk size line")) }
                if value == 0 {
                    step = .trailer(lineLength: 0)
                } else {
                    bodyBytes += value
                    guard bodyBytes <= limits.maxBodyBytes else { return .refused(.bodyTooLarge) }
                    step = .data(remaining: value)
                }
            case .data(let remaining):
                step = remaining > 1 ? .data(remaining: remaining - 1) : .dataCR
            case .dataCR:
                if byte == UInt8(ascii: "\r") {
                    step = .dataLF
                } else if byte == UInt8(ascii: "\n") {
                    step = .size(value: 0, digits: 0, inExtension: false)
                } else {
                    return .refused(.badRequest("chunk data longer than its size"))
                }
            case .dataLF:
                guard byte == UInt8(ascii: "\n") else { return .refused(.badRequest("chunk data longer than its size")) }
                step = .size(value: 0, digits: 0, inExtension: false)
            case .trailer(let lineLength):
                if byte == UInt8(ascii: "\n") {
                    if lineLength == 0 { return .complete(taken) }
                    step = .trailer(lineLength: 0)
                } else if byte != UInt8(ascii: "\r") {
                    trailerBytes += 1
                    guard trailerBytes <= limits.maxHeaderBytes else { return .refused(.headerTooLarge("trailer fields too large")) }
                    step = .trailer(lineLength: lineLength + 1)
                }
            }
        }
        return .needsMore
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
