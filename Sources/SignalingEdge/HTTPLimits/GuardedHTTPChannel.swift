import EdgeSupport
import HummingbirdCore
import Logging
import NIOCore

/// Wraps a Hummingbird child channel so every accepted connection goes through an `HTTPRequestGuard` first.
struct GuardedHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let limits: HTTPRequestLimits
    let connections: ConnectionLimiter
    let origins: OriginPolicy

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            // Signaling frames are small and latency-bound: never hold one back for Nagle's algorithm.
            try channel.syncOptions?.setOption(.tcpOption(.tcp_nodelay), value: 1)
            // Before the framework's handlers, after anything already there (the one-port mux's TLS handler).
            try channel.pipeline.syncOperations.addHandler(HTTPRequestGuard(limits: limits, connections: connections, origins: origins))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
