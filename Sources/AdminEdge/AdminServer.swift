import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

/// The operator's listener (`--admin-port`, loopback by default): Prometheus metrics at `/metrics` and the admin
/// API under `/admin/`, every route behind the bearer token. Documented in docs/admin-api.md.
public struct AdminServer: Sendable {
    let backend: AdminBackend
    let token: String
    let logger: Logger

    public init(backend: AdminBackend, token: String, logger: Logger) {
        self.backend = backend
        self.token = token
        self.logger = logger
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AdminTokenMiddleware(token: Array(token.utf8)))
        let backend = self.backend
        router.get("/metrics") { _, _ in
            let text = try await backend.metrics()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/admin/rooms") { _, _ in
            try AdminJSON.response(["rooms": await backend.rooms()])
        }
        router.get("/admin/allocations") { _, _ in
            try AdminJSON.response(["allocations": try await backend.allocations()])
        }
        router.post("/admin/peers/:id/kick") { _, context in
            let id = try context.parameters.require("id")
            guard let kicked = try await backend.kick(id) else {
                return AdminJSON.error(.notFound, "unknown-peer", "no session '\(id)'")
            }
            return try AdminJSON.response(kicked)
        }
        router.post("/admin/users/:user/revoke") { _, context in
            try AdminJSON.response(try await backend.revoke(try context.parameters.require("user")))
        }
        router.post("/admin/drain") { _, _ in
            try AdminJSON.response(await backend.drain())
        }
        return router
    }

    /// Serves on `host:port` until the surrounding service group shuts down; `onBound` gets the bound port.
    public func application(host: String, port: Int, group: any EventLoopGroup,
                            onBound: @escaping @Sendable (Int) -> Void) -> some Service {
        Application(router: router(), configuration: .init(address: .hostname(host, port: port), serverName: nil),
                    onServerRunning: { channel in onBound(channel.localAddress?.port ?? port) },
                    eventLoopGroupProvider: .shared(group), logger: logger)
    }
}
