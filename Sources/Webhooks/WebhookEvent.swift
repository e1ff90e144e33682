import Foundation

/// One event to announce: what happened (`type`, such as `room.started`), when, and its fields.
///
/// The module knows nothing of rooms or allocations; the app maps its own events into this shape.
public struct WebhookEvent: Sendable, Equatable {
    public var type: String
    public var timestamp: Date
    /// Put beside `id`, `type` and `timestamp` at the top level of the body; those three names are taken.
    public var fields: [String: WebhookValue]

    public init(type: String, timestamp: Date, fields: [String: WebhookValue] = [:]) {
        self.type = type
        self.timestamp = timestamp
        self.fields = fields
    }
}
