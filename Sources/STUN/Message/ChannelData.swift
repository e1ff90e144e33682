import NIOCore

/// ChannelData framing (RFC 8656 §12.4): a 2-byte channel number, a 2-byte length, the data, and on stream
/// transports padding to a multiple of 4 that the length does not count.
public enum ChannelData {
    /// RFC 8656 narrowed channel numbers to 0x4000–0x4FFF; RFC 5766 allowed up to 0x7FFF and coturn's own client
    /// (turnutils_uclient) still picks numbers there, so we accept the older range: 0x5000–0x7FFF collides with
    /// nothing on a TURN transport (the first byte stays 0x40–0x7F). Numbers from 0x8000 up are refused.
    public static let validNumbers: ClosedRange<UInt16> = 0x4000...0x7FFF
    public static let rfc8656Numbers: ClosedRange<UInt16> = 0x4000...0x4FFF
    public static let headerLength = 4

    /// True when the first byte says ChannelData (leading bits 01) rather than STUN (00).
    public static func looksLikeChannelData(_ firstByte: UInt8) -> Bool { firstByte & 0xC0 == 0x40 }

    public enum ParseError: Error, Equatable, Sendable {
        case truncated
        case channelOutOfRange(UInt16)
        case lengthExceedsPayload(declared: Int, actual: Int)
    }

    /// Splits a datagram into channel number and data (a slice of the same storage, no copy). Extra bytes after the
    /// declared length are padding and ignored, as a datagram may carry them.
    public static func parse(_ buffer: ByteBuffer) -> Result<(channel: UInt16, data: ByteBuffer), ParseError> {
        guard let channel = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return .failure(.truncated) }
        guard validNumbers.contains(channel) else { return .failure(.channelOutOfRange(channel)) }
        let available = buffer.readableBytes - headerLength
        guard Int(length) <= available, let data = buffer.getSlice(at: buffer.readerIndex + headerLength, length: Int(length)) else {
            return .failure(.lengthExceedsPayload(declared: Int(length), actual: available))
        }
        return .success((channel, data))
    }

    /// The framed length of the ChannelData message at the start of a stream buffer, padding included.
    public static func framedLength(of buffer: ByteBuffer, stream: Bool) -> Int? {
        guard let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return nil }
        let total = headerLength + Int(length)
        return stream ? (total + 3) & ~3 : total
    }

    /// Writes a ChannelData message.
    public static func write(channel: UInt16, data: ByteBuffer, stream: Bool, into out: inout ByteBuffer) {
        out.writeInteger(channel)
        let length = data.readableBytes
        out.writeInteger(UInt16(truncatingIfNeeded: length))
        var data = data
        out.writeBuffer(&data)
        if stream, length % 4 != 0 {
            out.writeRepeatingByte(0, count: 4 - length % 4)
        }
    }
}
