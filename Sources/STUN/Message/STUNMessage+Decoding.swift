import NIOCore

extension STUNMessage {
    /// Options for decoding.
    public struct DecodingOptions: Sendable {
        /// Accept messages without the magic cookie (RFC 3489 agents). Off by default: such bytes are reported as `badMagicCookie`.
        public var acceptClassic: Bool
        /// Check FINGERPRINT when present (a mismatch means the bytes are not STUN).
        public var verifyFingerprint: Bool

        public init(acceptClassic: Bool = false, verifyFingerprint: Bool = true) {
            self.acceptClassic = acceptClassic
            self.verifyFingerprint = verifyFingerprint
        }
    }

    /// Reads just enough of a buffer to tell whether it starts a STUN message and how long the message is.
    /// Returns nil when fewer than 20 bytes are readable. Used to frame STUN over TCP.
    public static func framedLength(of buffer: ByteBuffer) -> Int? {
        guard buffer.readableBytes >= STUNMessage.headerLength,
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return nil }
        return STUNMessage.headerLength + Int(length)
    }

    /// Decodes one whole message. The buffer must hold exactly that message (one datagram or one framed TCP unit).
    public init(decoding buffer: ByteBuffer, options: DecodingOptions = .init()) throws(STUNDecodingError) {
        var reader = buffer
        let start = buffer.readerIndex
        guard reader.readableBytes >= STUNMessage.headerLength,
              let rawType = reader.readInteger(as: UInt16.self),
              let length = reader.readInteger(as: UInt16.self),
              let cookie = reader.readInteger(as: UInt32.self),
              let high = reader.readInteger(as: UInt32.self),
              let middle = reader.readInteger(as: UInt32.self),
              let low = reader.readInteger(as: UInt32.self) else { throw .truncatedHeader }
        guard let type = STUNMessageType(wireValue: rawType) else { throw .notSTUN }
        guard cookie == STUNMessage.magicCookie || options.acceptClassic else { throw .badMagicCookie(cookie) }
        guard length % 4 == 0 else { throw .lengthNotMultipleOfFour(Int(length)) }
        guard reader.readableBytes == Int(length) else {
            throw .lengthMismatch(declared: Int(length), actual: reader.readableBytes)
        }
        let transactionID = TransactionID(high: high, middle: middle, low: low)
        self.init(type: type, transactionID: transactionID, cookie: cookie)
        self.raw = buffer

        // RFC 8489 §14.5–14.7: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count,
        // after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, and FINGERPRINT comes last.
        var sawIntegrity = false
        var sawIntegritySHA256 = false
        var attributes: [STUNAttribute] = []
        attributes.reserveCapacity(8)
        while reader.readableBytes > 0 {
            let attributeOffset = reader.readerIndex - start
            // The length check above leaves a multiple of 4 bytes, so a 4-byte attribute header is always there.
            let rawAttributeType = reader.readInteger(as: UInt16.self)!
            let valueLength = reader.readInteger(as: UInt16.self)!
            let attributeType = STUNAttributeType(rawValue: rawAttributeType)
            let paddedLength = (Int(valueLength) + 3) & ~3
            guard reader.readableBytes >= paddedLength, let value = reader.readSlice(length: Int(valueLength)) else {
                throw .attributeOverrunsMessage(attributeType)
            }
            reader.moveReaderIndex(forwardBy: paddedLength - Int(valueLength))

            if let last = attributes.last, case .fingerprint = last {
                throw .attributeAfterFingerprint(attributeType)
            }
            switch attributeType {
            case .messageIntegrity where sawIntegrity || sawIntegritySHA256:
                continue
            case .messageIntegritySHA256:
                if sawIntegritySHA256 { continue }
            case .fingerprint:
                break
            default:
                if sawIntegrity || sawIntegritySHA256 { continue }
            }

            let attribute = try ByteBuffer.decodeSTUNAttribute(type: attributeType, value: value, transactionID: transactionID)
            switch attribute {
            case .messageIntegrity:
                sawIntegrity = true
                messageIntegrityOffset = attributeOffset
            case .messageIntegritySHA256:
                sawIntegritySHA256 = true
                messageIntegritySHA256Offset = attributeOffset
            case .fingerprint(let received):
                if options.verifyFingerprint {
                    let computed = Fingerprint.compute(over: buffer, upTo: attributeOffset)
                    guard computed == received else { throw .badFingerprint }
                }
            case .unknown(let unknownType, _) where unknownType.isComprehensionRequired:
                unknownComprehensionRequired.append(unknownType)
            default:
                break
            }
            attributes.append(attribute)
        }
        self.attributes = attributes
    }
}
