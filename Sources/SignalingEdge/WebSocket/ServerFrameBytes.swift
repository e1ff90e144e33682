import NIOCore
import NIOWebSocket

/// A frame from the server as it goes on the wire (RFC 6455 §5.2): FIN set, no mask, header and payload in one
/// buffer.
enum ServerFrameBytes {
    static func text(_ text: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let count = text.utf8.count
        var buffer = allocator.buffer(capacity: headerLength(count) + count)
        writeHeader(.text, length: count, into: &buffer)
        buffer.writeString(text)
        return buffer
    }

    static func frame(_ opcode: WebSocketOpcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerLength(payload.readableBytes) + payload.readableBytes)
        writeHeader(opcode, length: payload.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(payload)
        return buffer
    }

    static func headerLength(_ length: Int) -> Int {
        length < 126 ? 2 : length <= Int(UInt16.max) ? 4 : 10
    }

    private static func writeHeader(_ opcode: WebSocketOpcode, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | UInt8(webSocketOpcode: opcode))
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }
}
