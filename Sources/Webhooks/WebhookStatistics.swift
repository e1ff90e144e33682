import Foundation

/// The dispatcher's counts at one moment, for metrics and the admin API.
public struct WebhookStatistics: Sendable, Equatable {
    /// Answered 2xx.
    public var delivered: Int
    /// Given up when the deadline passed.
    public var failed: Int
    /// Refused for good by the receiver (4xx other than 408 and 429, or a redirect).
    public var rejected: Int
    /// Not queued: the queue was full, or the dispatcher stopping.
    public var dropped: Int
    /// Accepted and not yet delivered, rejected or failed.
    public var queueDepth: Int
    /// How long the oldest of those has waited; nil when there are none.
    public var oldestUndeliveredAge: TimeInterval?
    public var endpoints: [Endpoint]

    /// The same counts for one URL (each event is counted once per URL).
    public struct Endpoint: Sendable, Equatable {
        /// With any password in it masked.
        public var url: String
        public var delivered: Int
        public var failed: Int
        public var rejected: Int
        public var dropped: Int
        public var queueDepth: Int
        public var oldestUndeliveredAge: TimeInterval?
    }

    init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
        delivered = endpoints.reduce(0) { $0 + $1.delivered }
        failed = endpoints.reduce(0) { $0 + $1.failed }
        rejected = endpoints.reduce(0) { $0 + $1.rejected }
        dropped = endpoints.reduce(0) { $0 + $1.dropped }
        queueDepth = endpoints.reduce(0) { $0 + $1.queueDepth }
        oldestUndeliveredAge = endpoints.compactMap(\.oldestUndeliveredAge).max()
    }
}
