import NIOCore
import STUN
import TURN

/// Cuts a TCP byte stream into STUN messages (by the header's length field, RFC 8489 §6.2.2) and ChannelData
/// messages (by theirs, plus padding to 4 bytes, RFC 8656 §12.5).
///
/// A stream whose next unit is neither cannot be re-synchronised, so it is an error that closes the connection.
struct STUNStreamFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct NotSTUN: Error {}

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        let length: Int?
        if first & 0xC0 == 0 {
            length = STUNMessage.framedLength(of: buffer)
        } else if ChannelData.looksLikeChannelData(first) {
            length = ChannelData.framedLength(of: buffer, stream: true)
        } else {
            throw NotSTUN()
        }
        guard let length, let message = buffer.readSlice(length: length) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
