import Foundation
import NIOCore

/// An event as it goes over the wire: its id and the exact body bytes that are signed and sent.
///
/// The body is encoded once, when the event is written to the queue, so every attempt (and every attempt after a
/// restart) sends the same bytes under the same id.
struct WebhookPayload: Sendable, Equatable {
    var id: String
    var body: ByteBuffer

    init(id: String, body: ByteBuffer) {
        self.id = id
        self.body = body
    }

    /// `{"id", "type", "timestamp", ...fields}` with sorted keys; a field named like one of the first three is
    /// overridden by it.
    init(event: WebhookEvent, id: String) {
        var object = event.fields
        object["id"] = .string(id)
        object["type"] = .string(event.type)
        object["timestamp"] = .string(event.timestamp.formatted(Self.timestampStyle))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a dictionary of strings, numbers and nested values cannot fail, except on a non-finite
        // double, which JSON has no word for.
        let data = (try? encoder.encode(object)) ?? Data(#"{"id":"\#(id)","type":"\#(event.type)"}"#.utf8)
        self.init(id: id, body: ByteBuffer(bytes: data))
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-24T09:30:00.123Z`.
    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A new unique event id: receivers de-duplicate redeliveries by it.
    static func newID() -> String { "evt_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") }
}
