import Crypto
import NIOCore

/// The algorithm of a message-integrity attribute.
public enum IntegrityAlgorithm: Sendable, Hashable {
    /// MESSAGE-INTEGRITY, HMAC-SHA1 (20 bytes).
    case sha1
    /// MESSAGE-INTEGRITY-SHA256, HMAC-SHA256 (32 bytes; we always send the full length).
    case sha256

    var attributeType: STUNAttributeType { self == .sha1 ? .messageIntegrity : .messageIntegritySHA256 }
}

/// The HMAC key for message integrity (RFC 8489 §9).
public struct IntegrityKey: Hashable, Sendable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Short-term credentials: the key is the password itself. (OpaqueString/SASLprep is not applied: ASCII passwords
    /// are unaffected and we generate only those.)
    public static func shortTerm(password: String) -> IntegrityKey {
        IntegrityKey(bytes: Array(password.utf8))
    }

    /// Long-term credentials: MD5 or SHA-256 of `username:realm:password` per the negotiated PASSWORD-ALGORITHM.
    public static func longTerm(username: String, realm: String, password: String,
                                algorithm: PasswordAlgorithm = .md5) -> IntegrityKey {
        let input = Array("\(username):\(realm):\(password)".utf8)
        if algorithm == .sha256 {
            return IntegrityKey(bytes: Array(SHA256.hash(data: input)))
        }
        return IntegrityKey(bytes: Array(Insecure.MD5.hash(data: input)))
    }
}

extension STUNMessage {
    /// HMAC over the message bytes before the attribute at `offset`, with the header length field set as if the
    /// message ended right after that attribute (RFC 8489 §14.5, §14.6). `macLength` is the attribute's value length:
    /// a peer may truncate MESSAGE-INTEGRITY-SHA256, and the length it hashed counts the shortened attribute.
    static func integrityHMAC(_ algorithm: IntegrityAlgorithm, key: IntegrityKey, message: ByteBuffer, offset: Int,
                              macLength: Int? = nil) -> [UInt8] {
        let attributeLength = 4 + (macLength ?? (algorithm == .sha1 ? 20 : 32))
        let adjustedLength = UInt16(truncatingIfNeeded: offset + attributeLength - STUNMessage.headerLength)
        return message.withUnsafeReadableBytes { bytes -> [UInt8] in
            func mac<H: HashFunction>(_: H.Type) -> [UInt8] {
                var hmac = HMACKey<H>(key.bytes).start()
                hmac.update(UnsafeRawBufferPointer(rebasing: bytes[0..<2]))
                withUnsafeBytes(of: adjustedLength.bigEndian) { hmac.update($0) }
                hmac.update(UnsafeRawBufferPointer(rebasing: bytes[4..<offset]))
                return hmac.finalize()
            }
            return algorithm == .sha1 ? mac(Insecure.SHA1.self) : mac(SHA256.self)
        }
    }

    /// Checks the integrity attribute of `algorithm` against the bytes as received.
    /// False when the message was not decoded from bytes, has no such attribute, or the HMAC differs.
    public func verifyIntegrity(_ algorithm: IntegrityAlgorithm, key: IntegrityKey) -> Bool {
        guard let raw else { return false }
        switch algorithm {
        case .sha1:
            guard let offset = messageIntegrityOffset, case .messageIntegrity(let received)? = attribute(.messageIntegrity) else {
                return false
            }
            return constantTimeEqual(STUNMessage.integrityHMAC(.sha1, key: key, message: raw, offset: offset), received)
        case .sha256:
            guard let offset = messageIntegritySHA256Offset,
                  case .messageIntegritySHA256(let received)? = attribute(.messageIntegritySHA256) else { return false }
            let computed = STUNMessage.integrityHMAC(.sha256, key: key, message: raw, offset: offset, macLength: received.count)
            return constantTimeEqual(Array(computed.prefix(received.count)), received)
        }
    }
}

/// Compares without an early exit, so timing does not tell an attacker how many leading bytes were right.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
