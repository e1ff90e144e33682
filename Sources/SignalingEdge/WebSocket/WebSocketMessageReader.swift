import NIOCore
import NIOWebSocket
import Signaling

/// Turns the frames a client sends into messages, enforcing the RFC 6455 rules a server must: every client frame is
/// masked (§5.1), no reserved bit is set without an extension that defines it (§5.2; we negotiate none), fragments
/// come in order (§5.4), control frames are short and whole (§5.5), close frames carry a valid code and UTF-8 reason
/// (§5.5.1, §7.4), and text is UTF-8 (§8.1). Text is validated once, where it becomes a `String`.
struct WebSocketMessageReader {
    enum Message: Equatable {
        case text(String)
        case binary
        /// The client's close code, nil when its close frame carried none (1005).
        case close(UInt16?)
        case ping(ByteBuffer)
        case pong
        /// A fragment of a message still under way.
        case partial
    }

    let maxMessageBytes: Int
    /// Set while a fragmented text message is under way.
    private var fragmented: WebSocketOpcode?
    private var fragmentedText = ByteBuffer()
    /// Where a whole text frame is unmasked before it becomes a `String`, kept from frame to frame.
    private var scratch: [UInt8] = []

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// The message `frame` completes, or the reason to close the connection.
    mutating func read(_ frame: WebSocketFrame) -> Result<Message, SignalingCloseReason> {
        guard frame.maskKey != nil else { return .failure(.protocolError("client frames must be masked")) }
        guard frame.reservedBits.isEmpty else { return .failure(.protocolError("reserved bits set")) }
        switch frame.opcode {
        case .text, .binary:
            if fragmented != nil { return .failure(.protocolError("new message inside a fragmented message")) }
            // Binary is refused by the caller at its first frame; its fragments are never collected.
            guard frame.opcode == .text else { return .success(.binary) }
            guard frame.fin else {
                fragmented = .text
                fragmentedText.clear()
                if let reason = appendText(frame) { return .failure(reason) }
                return .success(.partial)
            }
            guard let maskKey = frame.maskKey, let text = Self.unmaskedText(frame.data, key: maskKey, scratch: &scratch) else {
                return .failure(.invalidText)
            }
            return .success(.text(text))
        case .continuation:
            guard fragmented != nil else { return .failure(.protocolError("continuation frame without a message")) }
            if let reason = appendText(frame) { return .failure(reason) }
            guard frame.fin else { return .success(.partial) }
            fragmented = nil
            defer { fragmentedText = ByteBuffer() }
            guard let text = String(validating: fragmentedText.readableBytesView, as: UTF8.self) else {
                return .failure(.invalidText)
            }
            return .success(.text(text))
        case .connectionClose:
            guard frame.fin else { return .failure(.protocolError("fragmented control frame")) }
            var payload = frame.unmaskedData
            guard payload.readableBytes != 1 else { return .failure(.protocolError("close frame with a one-byte payload")) }
            guard let code = payload.readInteger(as: UInt16.self) else { return .success(.close(nil)) }
            guard Self.isValidCloseCode(code) else { return .failure(.protocolError("invalid close code")) }
            guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else { return .failure(.invalidText) }
            return .success(.close(code))
        case .ping:
            guard frame.fin, frame.length <= 125 else { return .failure(.protocolError("oversized or fragmented ping")) }
            return .success(.ping(frame.unmaskedData))
        case .pong:
            guard frame.fin, frame.length <= 125 else { return .failure(.protocolError("oversized or fragmented pong")) }
            return .success(.pong)
        default:
            return .failure(.protocolError("unknown opcode"))
        }
    }

    private mutating func appendText(_ frame: WebSocketFrame) -> SignalingCloseReason? {
        guard fragmentedText.readableBytes + frame.length <= maxMessageBytes else { return .frameTooLarge }
        var data = frame.unmaskedData
        fragmentedText.writeBuffer(&data)
        return nil
    }

    /// A masked text payload, unmasked eight bytes at a time (NIOWebSocket's `unmaskedData` goes byte by byte and
    /// copies into a new buffer), then checked as UTF-8 on its way into a `String`.
    static func unmaskedText(_ payload: ByteBuffer, key: WebSocketMaskingKey, scratch: inout [UInt8]) -> String? {
        scratch.removeAll(keepingCapacity: true)
        payload.withUnsafeReadableBytes { scratch.append(contentsOf: $0) }
        // The key twice over, as one word in memory order (a tuple, not an array: no allocation per frame).
        let pattern = (key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3])
        let wide = withUnsafeBytes(of: pattern) { $0.loadUnaligned(as: UInt64.self) }
        scratch.withUnsafeMutableBytes { bytes in
            var index = 0
            while index + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                bytes.storeBytes(of: word ^ wide, toByteOffset: index, as: UInt64.self)
                index += 8
            }
            while index < bytes.count {
                bytes[index] ^= key[index % 4]
                index += 1
            }
        }
        return String(validating: scratch, as: UTF8.self)
    }

    /// Codes a peer may send (RFC 6455 §7.4.1 and the IANA registry); 1005, 1006 and 1015 are never sent.
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
