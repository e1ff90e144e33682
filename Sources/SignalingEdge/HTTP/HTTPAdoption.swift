import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Serves HTTP on connections accepted elsewhere (the one-port mux): the same child channel as the HTTP listener's
/// (request guard, routes, WebSocket upgrade), set up on the handed-over channel and run as the framework runs its
/// own. Filled in once the HTTP listener is up, since the framework's responder exists only from then on.
final class HTTPAdoption: Sendable {
    typealias Adopt = @Sendable (_ channel: any Channel) -> Void
    private let adopt = NIOLockedValueBox<Adopt?>(nil)

    func set(_ body: @escaping Adopt) {
        adopt.withLockedValue { $0 = body }
    }

    /// Closes the channel when the HTTP side is not up (yet, or any more).
    func serve(_ channel: any Channel) {
        guard let body = adopt.withLockedValue({ $0 }) else { return channel.close(promise: nil) }
        body(channel)
    }

    /// The adopting closure for `child`: its handlers go after what the channel holds (the mux's TLS handler).
    static func adopting<Child: ServerChildChannel>(_ child: Child, logger: Logger) -> Adopt {
        { channel in
            child.setup(channel: channel, logger: logger).whenComplete { result in
                switch result {
                case .success(let value):
                    Task { await child.handle(value: value, logger: logger) }
                case .failure:
                    channel.close(promise: nil)
                }
            }
        }
    }
}
