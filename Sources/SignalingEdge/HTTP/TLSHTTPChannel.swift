import EdgeSupport
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// HTTPS and WSS: the same child channel as plain HTTP (request guard, routes, WebSocket upgrade) behind a TLS
/// handshake that must finish in time. Each connection takes the certificate in force when it is accepted.
struct TLSHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let tls: TLSContextSource

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // In front of everything the base put in, the request guard included.
            try channel.pipeline.syncOperations.addHandlers([NIOSSLServerHandler(context: tls.current), TLSHandshakeDeadline()],
                                                            position: .first)
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
