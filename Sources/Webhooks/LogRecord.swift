/// One entry of an endpoint's append-only log.
enum LogRecord: Sendable, Equatable {
    case event(StoredEvent)
    /// Every event up to and including this sequence number is delivered, rejected or failed. Delivery is in
    /// order, so one number says it all.
    case finished(through: UInt64)
}

/// Why the rest of a log file cannot be read: a write torn by a crash or bytes changed on disk.
struct LogRecordError: Error, Equatable, CustomStringConvertible {
    var description: String
}
