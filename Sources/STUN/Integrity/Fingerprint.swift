import NIOCore

/// FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message up to the attribute, with the header length already
/// counting the FINGERPRINT attribute, XOR 0x5354554E.
public enum Fingerprint {
    public static let xorValue: UInt32 = 0x5354_554E

    /// `offset` is where the FINGERPRINT attribute header starts, relative to the buffer's reader index.
    static func compute(over message: ByteBuffer, upTo offset: Int) -> UInt32 {
        message.withUnsafeReadableBytes { compute(message: $0, upTo: offset) }
    }

    /// `message` starts at the STUN header; `offset` is where the FINGERPRINT attribute header starts.
    static func compute(message bytes: UnsafeRawBufferPointer, upTo offset: Int) -> UInt32 {
        let adjustedLength = UInt16(truncatingIfNeeded: offset + 8 - STUNMessage.headerLength)
        var crc = CRC32.update(0, UnsafeRawBufferPointer(rebasing: bytes[0..<2]))
        crc = withUnsafeBytes(of: adjustedLength.bigEndian) { CRC32.update(crc, $0) }
        crc = CRC32.update(crc, UnsafeRawBufferPointer(rebasing: bytes[4..<offset]))
        return crc ^ xorValue
    }
}
