import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Signaling
import STUN
import TURN

/// `switchboard serve`: every listener in one process, run under swift-service-lifecycle.
///
/// `run()` binds everything, reports each bound listener through `onReady`, then waits for graceful shutdown
/// (SIGTERM/SIGINT through the service group) and closes its sockets so that `run()` returns.
public final class SwitchboardService: Service, Sendable {
    public let configuration: ServerConfiguration
    public let counters = STUNCounters()
    /// The TURN REST secrets in force: the configured ones, or one generated for this run.
    public let authSecrets: [String]
    private let group: EventLoopGroup
    private let logger: Logger
    private let onReady: @Sendable ([BoundListener]) -> Void
    private let clock: any TURNClock
    private let turnLoop: EventLoop
    private let turn: NIOLoopBound<TURNEdge>
    private let hubBox = HubBox()

    public init(configuration: ServerConfiguration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                clock: any TURNClock = SystemTURNClock(), logger: Logger,
                onReady: @escaping @Sendable ([BoundListener]) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onReady = onReady
        self.clock = clock
        var secrets = configuration.authSecrets
        if secrets.isEmpty {
            secrets = [generatedAuthSecret()]
            logger.notice("no --auth-secret given; TURN REST credentials use a secret generated for this run",
                          metadata: ["auth-secret": "\(secrets[0])"])
        }
        self.authSecrets = secrets
        let turnConfiguration = configuration.turnConfiguration
        let credentials = configuration.credentialStore(secrets: secrets)
        let policy = try configuration.peerPolicy()
        let loop = group.next()
        self.turnLoop = loop
        self.turn = try loop.submit {
            let core = TURNServerCore(configuration: turnConfiguration, credentials: credentials, policy: policy, clock: clock)
            return NIOLoopBound(TURNEdge(loop: loop, core: core, logger: logger), eventLoop: loop)
        }.wait()
    }

    /// Runs `body` with the TURN core on its event loop (tests and diagnostics).
    public func withTURNCore<T: Sendable>(_ body: @escaping @Sendable (TURNServerCore) -> T) async throws -> T {
        let turn = self.turn
        return try await turnLoop.submit { body(turn.value.core) }.get()
    }

    /// Open relay sockets (tests check that expiry releases them all).
    public func relaySocketCount() async throws -> Int {
        let turn = self.turn
        return try await turnLoop.submit { turn.value.relayCount }.get()
    }

    public func run() async throws {
        let stun = STUNListeners(configuration: configuration, loop: turnLoop, turn: turn, counters: counters)
        let listeners: [BoundListener]
        do {
            listeners = try await stun.start()
        } catch {
            logger.error("cannot start STUN/TURN listeners", metadata: ["error": "\(error)"])
            throw error
        }
        let turn = self.turn
        try await turnLoop.submit { turn.value.start() }.get()

        let http: SignalingHTTPServer
        do {
            http = try await makeSignalingServer(stunPort: listeners.first { $0.name == "stun udp" }?.address.port ?? configuration.stunPort)
        } catch {
            await stun.closeAll()
            try? await turnLoop.flatSubmit { turn.value.stop() }.get()
            throw error
        }
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let httpTask = Task {
            try await http.run(host: configuration.listenIP.description, port: Int(configuration.httpPort)) { port in
                boundContinuation.yield(port)
                boundContinuation.finish()
            }
        }
        var boundIterator = bound.makeAsyncIterator()
        guard let httpPort = await boundIterator.next() else {
            await stun.closeAll()
            try? await turnLoop.flatSubmit { turn.value.stop() }.get()
            try await httpTask.value
            throw ServiceStartError.httpDidNotStart
        }
        let all = listeners + [BoundListener(name: "http", address: TransportAddress(ip: configuration.listenIP, port: UInt16(httpPort)))]
        for listener in all {
            logger.info("listening", metadata: ["listener": "\(listener)"])
        }
        onReady(all)
        try? await gracefulShutdown()
        logger.info("shutting down")
        // HTTP connections get a moment to finish; a client that never sent a request must not hold up the exit.
        let (finished, finish) = AsyncStream.makeStream(of: Void.self)
        Task {
            _ = try? await httpTask.value
            finish.finish()
        }
        let deadline = Task {
            try await Task.sleep(for: .seconds(3))
            httpTask.cancel()
            try await Task.sleep(for: .seconds(2))
            finish.finish()
        }
        for await _ in finished {}
        deadline.cancel()
        await stun.closeAll()
        try? await turnLoop.flatSubmit { turn.value.stop() }.get()
    }

    /// Live signaling sessions (tests and metrics); 0 before the HTTP side has started.
    public func signalingSessionCount() async -> Int {
        await hubBox.hub?.sessionCount ?? 0
    }

    private func makeSignalingServer(stunPort: UInt16) async throws -> SignalingHTTPServer {
        var publicKey: String?
        if let file = configuration.jwtPublicKeyFile {
            guard let pem = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError(source: "configuration", key: "jwt-public-key", problem: "cannot read \(file)")
            }
            publicKey = pem
        }
        let verifier: SignalingTokenVerifier
        do {
            verifier = try await SignalingTokenVerifier(secret: configuration.jwtSecret, publicKeyPEM: publicKey)
        } catch let error as SignalingKeyError {
            throw ConfigurationError(source: "configuration", key: "jwt-secret", problem: error.description)
        } catch {
            throw ConfigurationError(source: "configuration", key: "jwt-public-key", problem: "not an ES256 (P-256) public key in PEM: \(error)")
        }
        if verifier.isOpen {
            logger.warning("""
                SIGNALING IS OPEN: no --jwt-secret or --jwt-public-key, so anyone who reaches the HTTP port may join \
                any room and receive TURN credentials. Configure a key before exposing this server.
                """)
        }
        var fixedHost: String?
        // URLs need brackets around IPv6 literals.
        func urlHost(_ ip: IPAddress) -> String { ip.family == .ipv6 ? "[\(ip)]" : "\(ip)" }
        if let external = configuration.externalIP {
            fixedHost = urlHost(external)
        } else if configuration.listenIP != .v4(0), configuration.listenIP != .v6(high: 0, low: 0) {
            fixedHost = urlHost(configuration.listenIP)
        }
        let directory = ICEServerDirectory(secret: authSecrets[0], port: stunPort, fixedHost: fixedHost)
        let limits = SignalingLimits()
        let hub = SignalingHub(limits: limits, iceServers: { user, host in directory.iceServers(user: user, requestHost: host) },
                               logger: logger)
        await hubBox.set(hub)
        return SignalingHTTPServer(hub: hub, verifier: verifier, directory: directory, limits: limits, logger: logger,
                                   firstRequestTimeout: configuration.httpFirstRequestTimeout)
    }
}

enum ServiceStartError: Error, CustomStringConvertible {
    case httpDidNotStart

    var description: String { "the HTTP listener did not start" }
}

/// Holds the signaling hub once `run()` has made it.
private actor HubBox {
    var hub: SignalingHub?

    func set(_ hub: SignalingHub) { self.hub = hub }
}
