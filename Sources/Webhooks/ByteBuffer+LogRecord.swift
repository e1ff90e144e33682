import Crypto
import Foundation
import NIOCore

/// The log's framing: `length (4 bytes) | check (4 bytes) | kind (1 byte) | fields`, big-endian, where `check`
/// is the first four bytes of the SHA-256 of what follows it, so a torn or damaged tail is told from a record.
///
/// Kinds: 1, an event: `sequence (8) | accepted at, ms since 1970 (8) | id length (1) | id | body`;
/// 2, finished: `sequence (8)`.
extension ByteBuffer {
    static let eventKind: UInt8 = 1
    static let finishedKind: UInt8 = 2
    /// Far above any event we write; a length past it is damage, not a record.
    static let maxLogRecordBytes = 16 << 20

    mutating func writeLogRecord(_ record: LogRecord) {
        let start = writerIndex
        writeInteger(UInt32(0))
        writeInteger(UInt32(0))
        let contentStart = writerIndex
        switch record {
        case .event(let event):
            writeInteger(Self.eventKind)
            writeInteger(event.sequence)
            writeInteger(Int64((event.acceptedAt.timeIntervalSince1970 * 1000).rounded()))
            let id = Array(event.payload.id.utf8.prefix(255))
            writeInteger(UInt8(id.count))
            writeBytes(id)
            writeImmutableBuffer(event.payload.body)
        case .finished(let sequence):
            writeInteger(Self.finishedKind)
            writeInteger(sequence)
        }
        let length = writerIndex - contentStart
        setInteger(UInt32(length), at: start)
        setInteger(Self.check(getSlice(at: contentStart, length: length)!), at: start + 4)
    }

    /// The next record, or nil when what is left is shorter than the record it starts (a write cut off by a crash);
    /// throws on a record that does not check out. Leaves the reader index after the record it returns.
    mutating func readLogRecord() throws(LogRecordError) -> LogRecord? {
        guard readableBytes >= 8 else { return nil }
        let length = Int(getInteger(at: readerIndex, as: UInt32.self)!)
        let check = getInteger(at: readerIndex + 4, as: UInt32.self)!
        guard length >= 9, length <= Self.maxLogRecordBytes else { throw LogRecordError(description: "bad record length \(length)") }
        guard readableBytes >= 8 + length else { return nil }
        guard var content = getSlice(at: readerIndex + 8, length: length),
              Self.check(content) == check else {
            throw LogRecordError(description: "record does not match its check")
        }
        moveReaderIndex(forwardBy: 8 + length)
        let kind = content.readInteger(as: UInt8.self)!
        let sequence = content.readInteger(as: UInt64.self)!
        switch kind {
        case Self.finishedKind:
            return .finished(through: sequence)
        case Self.eventKind:
            guard let millis = content.readInteger(as: Int64.self), let idLength = content.readInteger(as: UInt8.self),
                  let id = content.readString(length: Int(idLength)) else {
                throw LogRecordError(description: "short event record")
            }
            let accepted = Date(timeIntervalSince1970: Double(millis) / 1000)
            return .event(StoredEvent(sequence: sequence, acceptedAt: accepted, payload: WebhookPayload(id: id, body: content)))
        default:
            throw LogRecordError(description: "unknown record kind \(kind)")
        }
    }

    private static func check(_ bytes: ByteBuffer) -> UInt32 {
        let digest = bytes.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        return digest.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }
}
