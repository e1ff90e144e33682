import AdminEdge
import EdgeSupport
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import STUN

/// The admin listener running beside the others: started once the server is up (so a busy port is an error at
/// start, like every other listener), stopped by `stop()`.
struct AdminListener {
    let address: TransportAddress
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(_ server: AdminServer, at requested: TransportAddress, group loops: any EventLoopGroup,
                      logger: Logger) async throws -> AdminListener {
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let application = server.application(host: requested.ip.description, port: Int(requested.port), group: loops) { port in
            boundContinuation.yield(port)
            boundContinuation.finish()
        }
        var quiet = logger
        if logger.logLevel > .debug { quiet.logLevel = .critical }
        let group = ServiceGroup(configuration: .init(services: [.init(service: application)], logger: quiet))
        let task = Task.detached {
            do {
                try await group.run()
            } catch {
                boundContinuation.finish()
                throw error
            }
        }
        var port: Int?
        for await value in bound { port = value }
        guard let port else {
            do {
                try await task.value
            } catch {
                throw ListenerStartError(listener: "admin", address: requested.description, error: error)
            }
            throw ListenerStartError(listener: "admin", address: requested.description, error: AdminDidNotStart())
        }
        return AdminListener(address: TransportAddress(ip: requested.ip, port: UInt16(port)), group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    struct AdminDidNotStart: Error, CustomStringConvertible {
        var description: String { "the admin listener stopped before it was bound" }
    }
}
