import NIOCore
import NIOWebSocket
import Signaling

/// The RFC 6455 rules a server must enforce on the frames a client sends, checked frame by frame as they are
/// decoded: every client frame is masked (§5.1), no reserved bit is set without an extension that defines it
/// (§5.2; we negotiate none), fragments come in order (§5.4), close frames carry a valid code and UTF-8 reason
/// (§5.5.1, §7.4), and text is UTF-8 (§8.1). Whole unfragmented text frames are validated where they are decoded
/// into a `String`, so that happens once; fragmented text is collected here and validated when it ends.
struct WebSocketConformance {
    let maxMessageBytes: Int
    /// The opcode of the fragmented message under way, if any.
    private var fragmented: WebSocketOpcode?
    private var fragmentedText = ByteBuffer()

    init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// The reason to close with, or nil when `frame` may go on.
    mutating func check(_ frame: WebSocketFrame) -> SignalingCloseReason? {
        guard frame.maskKey != nil else { return .protocolError("client frames must be masked") }
        guard frame.reservedBits.isEmpty else { return .protocolError("reserved bits set") }
        switch frame.opcode {
        case .text, .binary:
            if fragmented != nil { return .protocolError("new message inside a fragmented message") }
            if !frame.fin {
                fragmented = frame.opcode
                if frame.opcode == .text {
                    fragmentedText.clear()
                    return appendText(frame)
                }
            }
        case .continuation:
            guard let opcode = fragmented else { return .protocolError("continuation frame without a message") }
            if opcode == .text, let reason = appendText(frame) { return reason }
            if frame.fin {
                fragmented = nil
                if opcode == .text {
                    let valid = String(validating: fragmentedText.readableBytesView, as: UTF8.self) != nil
                    fragmentedText = ByteBuffer()
                    if !valid { return .invalidText }
                }
            }
        case .connectionClose:
            var payload = frame.unmaskedData
            guard payload.readableBytes != 1 else { return .protocolError("close frame with a one-byte payload") }
            if let code = payload.readInteger(as: UInt16.self) {
                guard Self.isValidCloseCode(code) else { return .protocolError("invalid close code") }
                guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else { return .invalidText }
            }
        default:
            break
        }
        return nil
    }

    private mutating func appendText(_ frame: WebSocketFrame) -> SignalingCloseReason? {
        guard fragmentedText.readableBytes + frame.length <= maxMessageBytes else { return .frameTooLarge }
        var data = frame.unmaskedData
        fragmentedText.writeBuffer(&data)
        return nil
    }

    /// Codes a peer may send (RFC 6455 §7.4.1 and the IANA registry); 1005, 1006 and 1015 are never sent.
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
