import Foundation

/// An event written to an endpoint's log: its place in that endpoint's order, when it was accepted (its deadline
/// counts from then, across restarts) and what is sent.
struct StoredEvent: Sendable, Equatable {
    var sequence: UInt64
    /// Whole milliseconds, as the log keeps it.
    var acceptedAt: Date
    var payload: WebhookPayload
}
