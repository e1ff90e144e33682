import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `switchboard serve`: every listener in one process, run under swift-service-lifecycle.
///
/// `run()` binds everything, reports each bound listener through `onReady`, then waits for graceful shutdown
/// (SIGTERM/SIGINT through the service group) and closes its sockets so that `run()` returns.
public final class SwitchboardService: Service, Sendable {
    public let configuration: ServerConfiguration
    public let counters = STUNCounters()
    private let group: EventLoopGroup
    private let logger: Logger
    private let onReady: @Sendable ([BoundListener]) -> Void

    public init(configuration: ServerConfiguration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger, onReady: @escaping @Sendable ([BoundListener]) -> Void = { _ in }) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        let stun = STUNListeners(configuration: configuration, group: group, counters: counters)
        let listeners: [BoundListener]
        do {
            listeners = try await stun.start()
        } catch {
            logger.error("cannot start STUN listeners", metadata: ["error": "\(error)"])
            throw error
        }
        for listener in listeners {
            logger.info("listening", metadata: ["listener": "\(listener)"])
        }
        onReady(listeners)
        try? await gracefulShutdown()
        logger.info("shutting down")
        await stun.closeAll()
    }
}
