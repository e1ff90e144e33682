import NIOCore
import STUN

/// Cuts a TCP byte stream into STUN messages using the header's length field (RFC 8489 §6.2.2).
///
/// A stream that does not start with a STUN header cannot be re-synchronised, so it is an error that closes the
/// connection. (ChannelData framing joins this when TURN arrives.)
struct STUNStreamFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct NotSTUN: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        guard first & 0xC0 == 0 else { throw NotSTUN() }
        guard let length = STUNMessage.framedLength(of: buffer) else { return .needMoreData }
        guard let message = buffer.readSlice(length: length) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
