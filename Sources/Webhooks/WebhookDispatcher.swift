import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOPosix
import ServiceLifecycle

/// Signed, retried, durable webhooks: every submitted event is POSTed to every configured URL.
///
/// Each URL has its own queue on disk (`queueDirectory/<hash of the URL>/`) and its own order: one request in
/// flight, the next event only once the one before it is delivered, rejected or past its deadline. Delivery is
/// at least once: receivers de-duplicate by the `id` field (also the `Switchboard-Id` header).
///
/// `init` opens the queues and takes over what an earlier run left undelivered; `run()` sends until graceful
/// shutdown (or `shutdown()`), then writes what is queued to disk and returns within `shutdownGrace` or so.
/// docs/webhooks.md has the wire format.
public final class WebhookDispatcher: Service, Sendable {
    public let settings: WebhookSettings
    private let endpoints: [WebhookEndpoint]
    private let group: any EventLoopGroup
    private let logger: Logger
    private let stopping = NIOLockedValueBox(false)

    /// Opens (or creates) each URL's queue and reads back what it holds. Throws when a queue directory cannot be
    /// created, listed or read.
    public init(settings: WebhookSettings, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger) throws(WebhookQueueError) {
        self.settings = settings
        self.group = eventLoopGroup
        self.logger = logger
        var endpoints: [WebhookEndpoint] = []
        for url in settings.urls {
            let directory = settings.queueDirectory.appendingPathComponent(Self.directoryName(for: url), isDirectory: true)
            let log = try EndpointLog(directory: directory, segmentBytes: settings.segmentBytes)
            // For the operator who looks into the queue directory; the name alone does not say whose it is.
            try? Data((url.redactingPassword + "\n").utf8).write(to: directory.appendingPathComponent("url.txt"))
            endpoints.append(WebhookEndpoint(url: url, log: log, settings: settings, logger: logger))
        }
        self.endpoints = endpoints
    }

    /// Queues `event` for every URL, without waiting for disk or network; safe to call from any thread or event
    /// loop. Returns false when some URL's queue was full (or the dispatcher is stopping): there it is dropped
    /// and counted.
    @discardableResult
    public func submit(_ event: WebhookEvent) -> Bool {
        let accepted = EndpointQueue.Accepted(id: WebhookPayload.newID(), event: event, acceptedAt: Date())
        var all = true
        for endpoint in endpoints where !endpoint.offer(accepted) { all = false }
        return all
    }

    public var statistics: WebhookStatistics {
        WebhookStatistics(endpoints: endpoints.map(\.statistics))
    }

    /// Sends until graceful shutdown or `shutdown()`, then flushes the queues to disk and returns.
    public func run() async throws {
        // Made here rather than in init: both must be shut down, and only `run()` is sure to reach its end.
        let io = NIOThreadPool(numberOfThreads: 1)
        io.start()
        let client = HTTPClient(eventLoopGroup: group, configuration: Self.clientConfiguration(settings),
                                backgroundActivityLogger: logger)
        let sender = WebhookSender(client: client, secrets: settings.secrets, timeout: settings.requestTimeout,
                                   maxResponseBytes: settings.maxResponseBytes)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for endpoint in endpoints {
                    group.addTask { await endpoint.run(sender: sender, io: io) }
                }
                if stopping.withLockedValue({ $0 }) {
                    for endpoint in endpoints { endpoint.stop() }
                }
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        try? await client.shutdown()
        try? await io.shutdownGracefully()
    }

    /// Stops taking events and ends `run()`: a request in flight gets `shutdownGrace`, queued events stay on disk
    /// for the next start. Safe to call more than once, and before `run()`.
    public func shutdown() {
        stopping.withLockedValue { $0 = true }
        for endpoint in endpoints { endpoint.stop() }
    }

    private static func clientConfiguration(_ settings: WebhookSettings) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        // A redirect is answered as a rejection (see `AttemptOutcome`), never followed to a URL nobody configured.
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        let timeout = TimeAmount(settings.requestTimeout)
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: timeout, read: timeout)
        if let file = settings.trustedCertificatesFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(file)]
            configuration.tlsConfiguration = tls
        }
        return configuration
    }

    /// A stable name per URL that is safe as a file name: the first half of its SHA-256.
    static func directoryName(for url: URL) -> String {
        SHA256.hash(data: Data(url.absoluteString.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
