import NIOCore

/// The parts of a Binding request that its response depends on.
///
/// Built either from a decoded `STUNMessage` or, on the hot path, by scanning the bytes in place: a Binding request
/// from an ordinary client carries at most FINGERPRINT, SOFTWARE and the RFC 5780 attributes, and reading those
/// needs neither an attribute array nor any string.
public struct BindingRequest: Sendable {
    public var transactionID: TransactionID
    public var cookie: UInt32
    public var changeRequest: ChangeRequest?
    public var responsePort: UInt16?
    public var paddingLength: Int?
    public var unknownComprehensionRequired: [STUNAttributeType]

    public var isClassic: Bool { cookie != STUNMessage.magicCookie }

    public init(_ message: STUNMessage) {
        transactionID = message.transactionID
        cookie = message.cookie
        changeRequest = message.changeRequest
        responsePort = message.responsePort
        paddingLength = message.paddingLength
        unknownComprehensionRequired = message.unknownComprehensionRequired
    }

    /// Reads a Binding request that the full decoder would accept with `acceptClassic`, without allocating.
    ///
    /// Returns nil for anything it does not read itself: another method or class, a malformed or misplaced
    /// attribute, MESSAGE-INTEGRITY, an unknown comprehension-required attribute, a bad FINGERPRINT. The caller then
    /// decodes the message fully, which gives those cases their exact error (400, 420) or drops them.
    public init?(scanning buffer: ByteBuffer) {
        let found: BindingRequest? = buffer.withUnsafeReadableBytes { bytes in BindingRequest.scan(bytes) }
        guard let found else { return nil }
        self = found
    }

    private init(transactionID: TransactionID, cookie: UInt32) {
        self.transactionID = transactionID
        self.cookie = cookie
        unknownComprehensionRequired = []
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer) -> BindingRequest? {
        func word16(_ at: Int) -> UInt16 { UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func word32(_ at: Int) -> UInt32 { UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }

        guard bytes.count >= STUNMessage.headerLength, word16(0) == 0x0001 else { return nil }
        let length = Int(word16(2))
        guard length % 4 == 0, bytes.count == STUNMessage.headerLength + length else { return nil }
        var request = BindingRequest(transactionID: TransactionID(high: word32(8), middle: word32(12), low: word32(16)),
                                     cookie: word32(4))
        var offset = STUNMessage.headerLength
        while offset < bytes.count {
            let type = STUNAttributeType(rawValue: word16(offset))
            let valueLength = Int(word16(offset + 2))
            let value = offset + 4
            let next = value + (valueLength + 3) & ~3
            guard next <= bytes.count else { return nil }
            switch type {
            case .fingerprint:
                // Last by rule (RFC 8489 §14.7), and it must match; anything else is the full decoder's to judge.
                guard valueLength == 4, next == bytes.count,
                      word32(value) == Fingerprint.compute(message: bytes, upTo: offset) else { return nil }
            case .changeRequest:
                guard valueLength == 4 else { return nil }
                request.changeRequest = ChangeRequest(rawValue: word32(value))
            case .responsePort:
                guard valueLength == 4 else { return nil }
                request.responsePort = word16(value)
            case .padding:
                request.paddingLength = valueLength
            case .software:
                guard valueLength <= TextLimit.longText,
                      isValidUTF8(UnsafeRawBufferPointer(rebasing: bytes[value..<value + valueLength])) else { return nil }
            default:
                // Unknown comprehension-optional attributes are ignored (RFC 8489 §6.3); every other type goes the
                // long way so it is validated exactly as the decoder does.
                guard !type.isComprehensionRequired, !type.isKnown else { return nil }
            }
            offset = next
        }
        return request
    }

    private static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
