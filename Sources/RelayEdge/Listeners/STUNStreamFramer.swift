import NIOCore
import STUN
import TURN

/// Cuts a TCP byte stream into STUN messages (by the header's length field, RFC 8489 §6.2.2) and ChannelData
/// messages (by theirs, plus padding to 4 bytes, RFC 8656 §12.5).
///
/// A stream whose next unit is neither cannot be re-synchronised, so it is an error that closes the connection.
/// The first unit must be STUN: a client cannot have a channel before its Allocate, and without this rule text
/// protocols (an HTTP "GET ", 0x47…) would pass for ChannelData and hold the connection open waiting for 8 KB.
struct STUNStreamFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct NotSTUN: Error {}

    private var sawSTUN = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        let length: Int?
        if first & 0xC0 == 0 {
            length = STUNMessage.framedLength(of: buffer)
            if length != nil { sawSTUN = true }
        } else if sawSTUN, ChannelData.looksLikeChannelData(first) {
            length = ChannelData.framedLength(of: buffer, stream: true)
        } else {
            throw NotSTUN()
        }
        guard let length, let message = buffer.readSlice(length: length) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if !seenEOF {
            // Removed from a live connection: it became an RFC 6062 data connection, so what is left is the
            // client's raw bytes, passed on as they are.
            if buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
                context.fireChannelRead(wrapInboundOut(rest))
            }
            return .needMoreData
        }
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
