import EdgeSupport
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Signaling

/// The HTTP side of `serve`: WebSocket signaling, long polling, the ICE server API, health and the demo page.
package struct SignalingHTTPServer: Sendable {
    let hub: SignalingHub
    let group: any EventLoopGroup
    let verifier: SignalingTokenVerifier
    let directory: ICEServerDirectory
    let limits: SignalingLimits
    let logger: Logger
    let requestLimits: HTTPRequestLimits
    let connections: ConnectionLimiter
    let origins: OriginPolicy
    /// How the one-port mux hands HTTP connections over; filled in once the HTTP listener runs.
    let adoption = HTTPAdoption()

    /// Checks the token keys and makes the hub, on one loop of `group` (connections use all of them).
    package static func make(settings: SignalingEdgeSettings, group: any EventLoopGroup, connections: ConnectionLimiter,
                             events: @escaping @Sendable (SignalingEvent) -> Void = { _ in },
                             logger: Logger) async throws -> SignalingHTTPServer {
        let verifier: SignalingTokenVerifier
        do {
            verifier = try await SignalingTokenVerifier(secret: settings.jwtSecret, publicKeyPEM: settings.jwtPublicKeyPEM)
        } catch let error as SignalingKeyError {
            throw InvalidSetting(key: "jwt-secret", problem: error.description)
        } catch {
            throw InvalidSetting(key: "jwt-public-key", problem: "not an ES256 (P-256) public key in PEM: \(error)")
        }
        if verifier.isOpen {
            logger.warning("""
                SIGNALING IS OPEN: no --jwt-secret or --jwt-public-key, so anyone who reaches the HTTP port may join \
                any room and receive TURN credentials. Configure a key before exposing this server.
                """)
        }
        if settings.allowedOrigins.isEmpty {
            logger.notice("no --allowed-origin: pages from any origin may use signaling and the HTTP API")
        }
        let directory = ICEServerDirectory(secret: settings.turnSecret, port: settings.stunPort, tlsPorts: settings.turnsPorts,
                                           hosts: settings.publicHosts)
        // `next()` hands out the group's loops in turn, so servers sharing a group spread their hubs.
        let hub = SignalingHub(limits: settings.limits,
                               iceServers: { user, host, session in
                                   directory.iceServers(user: user, reachedHost: host, session: session)
                               },
                               loop: group.next(), connectionLoops: Array(group.makeIterator()), events: events,
                               maxPollSessionsPerAddress: settings.maxConnectionsPerIP, logger: logger)
        return SignalingHTTPServer(hub: hub, group: group, verifier: verifier, directory: directory, limits: settings.limits,
                                   logger: logger, requestLimits: settings.requestLimits, connections: connections,
                                   origins: OriginPolicy(allowed: settings.allowedOrigins))
    }

    /// Serves HTTP (and WSS, when the channel holds a TLS handler already) on a connection the one-port mux accepted.
    package func adopt(_ channel: any Channel) {
        adoption.serve(channel)
    }

    /// Live sessions and long-polling ids that still lead to one (inspection).
    package var sessionCount: Int { get async { await hub.sessionCount } }
    package var pollIndexCount: Int { get async { await hub.pollIndexCount } }
    package var roomCount: Int { get async { await hub.roomCount } }

    // The operator's hand (admin API).
    package func roomReports() async -> [RoomReport] { await hub.roomReports() }
    package func kick(session: String) async -> Bool { await hub.kick(session) }
    package func hasSession(_ session: String) async -> Bool { await hub.hasSession(session) }
    package var frameCounts: FrameCounts { get async { await hub.frameCounts } }
    package func revoke(user: String) async -> Int { await hub.revoke(user: user) }
    package func drain() async { await hub.drain() }
    package var isDraining: Bool { get async { await hub.isDraining } }
    /// How long the TURN credentials handed out on join live.
    package var credentialTTL: Int { directory.ttl }

    /// Runs until `stop` finishes; `onBound` gets each listener's name (`http`, `https`) and port once it listens.
    /// With `https` the same routes are served over TLS on a second port. On `stop` the hub ends every session
    /// first (WebSocket 1001, waiting polls 410), then the listeners close and open connections drain.
    package func run(host: String, port: Int, https: (port: Int, tls: TLSContextSource)? = nil, stop: AsyncStream<Void>,
                     onBound: @escaping @Sendable (String, Int) -> Void) async throws {
        let router = Router(context: SignalingRequestContext.self)
        router.add(middleware: OriginMiddleware(policy: origins))
        router.get("/healthz") { _, _ in try JSONResponse.make(.ok, ["status": .string("ok")]) }
        // Routes that need an identity sit behind the token check; poll ids and assets are their own capability.
        let authenticated = router.group().add(middleware: TokenAuthMiddleware(verifier: verifier))
        authenticated.get("/v1/ice-servers") { _, context in
            let user = context.identity?.user ?? String(RandomID.make().prefix(16))
            return try JSONResponse.make(.ok, [
                "iceServers": directory.iceServers(user: user, reachedHost: ICEServerDirectory.reachedHost(context.channel.localAddress)),
                "ttl": .number(Double(directory.ttl)),
            ])
        }
        LongPollRoutes(hub: hub).add(to: router, authenticated: authenticated)
        WebAssets().add(to: router)
        let (hub, verifier, limits, requestLimits, connections, origins) = (hub, verifier, limits, requestLimits, connections, origins)
        @Sendable func childChannel(_ responder: @escaping HTTPChannelHandler.Responder) -> GuardedHTTPChannel<SignalingHTTPChannel> {
            GuardedHTTPChannel(
                base: SignalingHTTPChannel(responder: responder, hub: hub, verifier: verifier, limits: limits, drainGate: hub.drainGate,
                                           idleTimeout: .seconds(40)),
                limits: requestLimits, connections: connections, origins: origins)
        }

        // Hummingbird logs every connection that closes before its first request as an error; under a flood of
        // half-open connections that is a log flood, so its own messages only show when we debug.
        let frameworkLogger = {
            var quiet = logger
            if logger.logLevel > .debug { quiet.logLevel = .critical }
            return quiet
        }()
        let plain = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                let child = childChannel(responder)
                adoption.set(HTTPAdoption.adopting(child, logger: frameworkLogger))
                return child
            },
            // A reconnect storm (every client of a restarted node at once) must queue, not have its SYNs dropped and
            // retried seconds later; the kernel caps this at net.core.somaxconn.
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: 4096),
            onServerRunning: { channel in onBound("http", channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: .shared(group),
            logger: frameworkLogger)
        var applications: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: plain)]
        if let https {
            let secure = Application(
                router: router,
                server: HTTPServerBuilder { responder in TLSHTTPChannel(base: childChannel(responder), tls: https.tls) },
                configuration: .init(address: .hostname(host, port: https.port), serverName: nil, backlog: 4096),
                onServerRunning: { channel in onBound("https", channel.localAddress?.port ?? https.port) },
                eventLoopGroupProvider: .shared(group),
                logger: frameworkLogger)
            applications.append(.init(service: secure))
        }

        // Our own group, without signal handlers: `stop` decides when the framework starts to wind down.
        let services = ServiceGroup(configuration: .init(services: applications, logger: frameworkLogger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Resume windows and idle long-polling clients are checked once a second.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    await hub.tick()
                }
            }
            group.addTask {
                for await _ in stop {}
                await hub.shutdown()
                // The close frames and 410s are written by the connections' own tasks: give them a moment.
                try? await Task.sleep(for: .milliseconds(250))
                await services.triggerGracefulShutdown()
            }
            try await services.run()
            await hub.shutdown()
            group.cancelAll()
        }
    }
}
