/// Why a byte string is not an acceptable STUN message. Decoding reports one of these and never traps.
public enum STUNDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer than the 20 bytes of a header.
    case truncatedHeader
    /// The two leading bits are not zero: this is not STUN (it may be ChannelData or another protocol).
    case notSTUN
    /// The magic cookie is not 0x2112A442 (only reported when classic RFC 3489 messages are not accepted).
    case badMagicCookie(UInt32)
    case lengthNotMultipleOfFour(Int)
    /// The header's length field does not match the bytes that arrived.
    case lengthMismatch(declared: Int, actual: Int)
    case attributeOverrunsMessage(STUNAttributeType)
    case malformedAttribute(STUNAttributeType, String)
    case badFingerprint
    case attributeAfterFingerprint(STUNAttributeType)

    public var description: String {
        switch self {
        case .truncatedHeader: "message shorter than the 20-byte STUN header"
        case .notSTUN: "leading bits are not 00: not a STUN message"
        case .badMagicCookie(let cookie): "wrong magic cookie 0x\(String(cookie, radix: 16))"
        case .lengthNotMultipleOfFour(let length): "message length \(length) is not a multiple of 4"
        case .lengthMismatch(let declared, let actual): "header says \(declared) attribute bytes, \(actual) arrived"
        case .attributeOverrunsMessage(let type): "attribute \(type) runs past the end of the message"
        case .malformedAttribute(let type, let why): "malformed \(type): \(why)"
        case .badFingerprint: "FINGERPRINT does not match the message"
        case .attributeAfterFingerprint(let type): "attribute \(type) follows FINGERPRINT"
        }
    }
}
