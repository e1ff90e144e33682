import Foundation

/// What the dispatcher needs to know: where to send, how to sign, where to keep the queue and how long to try.
public struct WebhookSettings: Sendable, Equatable {
    /// Each event goes to every URL, with its own queue and its own order.
    public var urls: [URL]
    /// Every secret signs every request (one `v1=` entry each); several at once while rotating.
    public var secrets: [String]
    /// One subdirectory per URL holds its append-only log.
    public var queueDirectory: URL
    /// How long after it was accepted an event may still be sent; after that it counts as failed.
    public var deadline: Duration = .seconds(86_400)
    /// Undelivered events one endpoint may hold (on disk and in memory); more are dropped and counted.
    public var queueLimit: Int = 50_000
    /// One request, from connecting to the end of the part of the response that is read.
    public var requestTimeout: Duration = .seconds(10)
    /// Response bytes read at most; a larger body is cut off and the connection closed.
    public var maxResponseBytes: Int = 4096
    /// Delay before the first retry; doubled each time up to `maxRetryDelay`, with jitter.
    public var firstRetryDelay: Duration = .seconds(1)
    public var maxRetryDelay: Duration = .seconds(60)
    /// On shutdown, how long a request in flight may still take before it is cut off (its event stays queued).
    public var shutdownGrace: Duration = .seconds(2)
    /// PEM certificates trusted for https:// receivers besides the system's roots (a private CA); nil: the system's.
    public var trustedCertificatesFile: String?
    /// A log file is closed and a new one started past this size, so finished files can be deleted whole.
    public var segmentBytes: Int = 4 << 20

    public init(urls: [URL], secrets: [String], queueDirectory: URL) {
        self.urls = urls
        self.secrets = secrets
        self.queueDirectory = queueDirectory
    }
}
