import AdminEdge
import EdgeSupport
import KernelFastPath
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RelayEdge
import ServiceLifecycle
import Signaling
import SignalingEdge
import STUN
import TURN
import Webhooks

/// `switchboard serve`: the relay edge and the signaling edge in one process, run under swift-service-lifecycle.
///
/// `run()` binds everything, reports each bound listener through `onReady`, then waits for graceful shutdown
/// (SIGTERM/SIGINT through the service group) and closes its sockets so that `run()` returns.
public final class SwitchboardService: Service, Sendable {
    public let configuration: ServerConfiguration
    /// The TURN REST secrets in force: the configured ones, or one generated for this run.
    public let authSecrets: [String]
    private let logger: Logger
    private let onReady: @Sendable ([BoundListener]) -> Void
    private let relay: RelayServer
    private let httpLimiter: ConnectionLimiter
    private let signalingGroup: (any EventLoopGroup)?
    private let signaling = SignalingSlot()
    /// The certificate of the TLS listeners, swapped on SIGHUP; nil without TLS.
    private let tls: TLSContextSource?
    /// Both cores' lifecycle events, for the log lines and every operator-facing consumer.
    public let events: LifecycleEvents
    public let metrics = ServerMetrics()
    /// Quotas, draining, revocations and live signaling sessions, shared by the TURN cores.
    private let ledger: AllocationLedger
    /// The admin API's bearer token: configured, or generated for this run.
    public let adminToken: String
    /// Sends the room, peer and allocation events to `--webhook-url`s; nil without one.
    public let webhooks: WebhookDispatcher?
    /// The channel fast path in the kernel, when asked for and loadable; nil relays everything in user space.
    public let kernelFastPath: KernelFastPath?

    /// `signalingGroup`: event loops for the HTTP side; nil makes `--signaling-threads` of them for this service.
    /// `eventConsumers`: more consumers of the lifecycle events, beside the log lines (tests).
    public init(configuration: ServerConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                signalingGroup: (any EventLoopGroup)? = nil, clock: any TURNClock = SystemTURNClock(), logger: Logger,
                eventConsumers: [LifecycleEvents.Consumer] = [],
                onReady: @escaping @Sendable ([BoundListener]) -> Void = { _ in }) throws {
        self.configuration = configuration
        let log = LifecycleLog(logger: logger)
        let turn = configuration.turnConfiguration
        let ledger = AllocationLedger(maxTotal: turn.maxAllocations, maxPerUser: configuration.perUserAllocations)
        self.ledger = ledger
        let relaySlot = NIOLockedValueBox<RelayServer?>(nil)
        let sessions = SessionBoundCredentials(ledger: ledger, relay: { relaySlot.withLockedValue { $0 } })
        var webhooks: WebhookDispatcher?
        if let settings = try configuration.webhookSettings() {
            do {
                webhooks = try WebhookDispatcher(settings: settings, logger: logger)
            } catch {
                throw ConfigurationError(source: "configuration", key: "webhook-queue-dir", problem: "\(error)")
            }
        }
        self.webhooks = webhooks
        let events = LifecycleEvents(consumers: [log.consume, metrics.consume, sessions.consume]
                                         + (webhooks.map { [$0.lifecycleConsumer] } ?? []) + eventConsumers)
        self.events = events
        if let token = configuration.adminToken {
            adminToken = token
        } else {
            adminToken = RandomSecret.hex(bytes: 24)
            logger.notice("no --admin-token given; the admin API and /metrics take a token generated for this run",
                          metadata: ["admin-token": "\(adminToken)"])
        }
        self.logger = logger
        self.onReady = onReady
        self.signalingGroup = signalingGroup
        httpLimiter = ConnectionLimiter(maxTotal: configuration.httpMaxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        DescriptorLimit.raise(needed: configuration.descriptorsNeeded, logger: logger)
        var secrets = configuration.authSecrets
        if secrets.isEmpty {
            secrets = [RandomSecret.hex(bytes: 32)]
            logger.notice("no --auth-secret given; TURN REST credentials use a secret generated for this run",
                          metadata: ["auth-secret": "\(secrets[0])"])
        }
        self.authSecrets = secrets
        if let certificate = try configuration.serverCertificate() {
            // ALPN for clients that ask (RFC 7443 names STUN over TLS `stun.turn`); the mux sorts by content anyway.
            tls = try Self.usable { try TLSContextSource(certificate: certificate, applicationProtocols: ["http/1.1", "stun.turn"]) }
            Self.announce(certificate, configuration.selfSigned ? "serving a self-signed certificate" : "serving the configured certificate",
                          logger: logger)
        } else {
            tls = nil
        }
        kernelFastPath = configuration.kernelFastPath ? Self.loadKernelFastPath(configuration, logger: logger) : nil
        // Every core must accept every core's nonces (a client's NAT binding may move it to another loop).
        relay = try RelayServer(settings: configuration.relayListenerSettings(tls: tls), turn: turn,
                                credentials: configuration.credentialStore(secrets: secrets),
                                policy: try configuration.peerPolicy(),
                                ledger: ledger,
                                nonceSecret: RandomSecret.bytes(32), clock: clock, group: group,
                                events: { events.turn($0) }, kernelFastPath: kernelFastPath, logger: logger)
        relaySlot.withLockedValue { [relay] in $0 = relay }
    }

    /// Loads the fast path, or says in one line why the relay stays in user space.
    private static func loadKernelFastPath(_ configuration: ServerConfiguration, logger: Logger) -> KernelFastPath? {
        let addresses = [configuration.listenIP, configuration.relayIP ?? configuration.listenIP].compactMap { ip -> UInt32? in
            if case .v4(let value) = ip { return value }
            return nil
        }
        switch KernelFastPath.load(routes: configuration.kernelFastPathRoutes, addresses: addresses) {
        case .success(let fastPath):
            logger.notice("kernel fast path on: bound channels are forwarded by a tc BPF program",
                          metadata: ["interfaces": "\(fastPath.interfaces.joined(separator: ","))",
                                     "routes": "\(fastPath.capacity)"])
            if !fastPath.interfacesWithoutForwarding.isEmpty {
                let names = fastPath.interfacesWithoutForwarding
                logger.notice("kernel fast path: forwarding is off on \(names.joined(separator: ",")); channels to peers and clients on other hosts stay in user space until it is on (sysctl net.ipv4.conf.\(names[0]).forwarding=1, see docs/kernel-fastpath.md)")
            }
            return fastPath
        case .failure(let reason):
            logger.warning("kernel fast path unavailable, relaying in user space: \(reason)")
            return nil
        }
    }

    /// What is running now: the same figures the admin API will serve.
    public func inspect() async throws -> ServerInspection {
        let server = await signaling.server
        return ServerInspection(
            allocationsPerCore: try await relay.allocationCounts(),
            relaySockets: try await relay.relaySocketCount(),
            signalingSessions: await server?.sessionCount ?? 0,
            rooms: await server?.roomCount ?? 0,
            pollIDs: await server?.pollIndexCount ?? 0,
            httpConnections: httpLimiter.open,
            httpAddresses: httpLimiter.addresses,
            stun: .init(responses: relay.counters.responses.load(ordering: .relaxed),
                        dropped: relay.counters.dropped.load(ordering: .relaxed),
                        tcpConnections: relay.counters.tcpConnections.load(ordering: .relaxed),
                        tcpRefused: relay.counters.tcpRefused.load(ordering: .relaxed)))
    }

    /// Reads the certificate files again and serves new TLS handshakes with them; connections already open keep
    /// theirs. A file that does not load leaves the certificate in force as it was. Runs on SIGHUP.
    public func reloadCertificate() throws(ConfigurationError) {
        guard let tls, !configuration.selfSigned, let certificate = try configuration.serverCertificate() else { return }
        try Self.usable { try tls.replace(with: certificate) }
        Self.announce(certificate, "certificate reloaded", logger: logger)
    }

    /// Runs `body`, which builds a TLS context from a checked certificate; BoringSSL's refusal names `tls-cert`.
    private static func usable<T>(_ body: () throws -> T) throws(ConfigurationError) -> T {
        do {
            return try body()
        } catch {
            throw ConfigurationError(source: "configuration", key: "tls-cert", problem: "not usable for TLS: \(error)")
        }
    }

    /// The log lines of a certificate going into service: its fingerprint and expiry, and a warning outside its
    /// validity period.
    private static func announce(_ certificate: ServerCertificate, _ message: Logger.Message, logger: Logger) {
        if let warning = certificate.validityWarning() { logger.warning("\(warning)") }
        logger.notice(message, metadata: ["sha256": "\(certificate.fingerprint)", "not-after": "\(certificate.notValidAfter)"])
    }

    /// The SHA-256 fingerprint of the certificate new TLS handshakes get; nil without TLS.
    public var certificateFingerprint: String? { tls?.certificate.fingerprint }

    /// How many TURN cores (datagram loops) serve clients.
    public var turnThreadCount: Int { relay.coreCount }

    /// The TURN counters summed over every core: a UDP client's allocation lives on whichever core the kernel's
    /// SO_REUSEPORT hash picked for its address.
    public func turnCounters() async throws -> TURNCounters {
        try await relay.metrics().turn
    }

    /// Runs `body` with the first TURN core on its loop (tests and diagnostics).
    public func withTURNCore<T: Sendable>(_ body: @escaping @Sendable (TURNServerCore) -> T) async throws -> T {
        try await relay.withFirstCore(body)
    }

    /// Serves until graceful shutdown. Webhooks run beside it and stop last, so that the events of the shutdown
    /// itself (peers leaving, rooms finishing) are queued; what is undelivered then waits on disk for the next start.
    public func run() async throws {
        // Detached, like the HTTP task below: the dispatcher must not see graceful shutdown before the service is done.
        let webhookRun = webhooks.map { dispatcher in Task.detached { try? await dispatcher.run() } }
        do {
            try await serve()
        } catch {
            kernelFastPath?.close()
            webhooks?.shutdown()
            await webhookRun?.value
            throw error
        }
        // The relay has stopped and removed its routes; the program goes last.
        kernelFastPath?.close()
        webhooks?.shutdown()
        await webhookRun?.value
    }

    private func serve() async throws {
        let listeners = try await relay.start()
        let ownGroup = signalingGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.signalingThreads)) : nil
        defer { if let ownGroup { ownGroup.shutdownGracefully { _ in } } }
        let http: SignalingHTTPServer
        // The mux port is claimed now (port 0 picked) so that iceServers can name it; it is bound once HTTP is up.
        var muxAddress: TransportAddress?
        do {
            if let port = configuration.muxPort {
                let requested = TransportAddress(ip: configuration.listenIP, port: port)
                muxAddress = try await ListenerStartError.naming("mux", requested) { try ListenerPortProbe.claim(requested, .stream) }
            }
            http = try await SignalingHTTPServer.make(
                settings: try signalingSettings(stunPort: listeners.first { $0.name == "stun udp" }?.address.port ?? configuration.stunPort,
                                                turnsPort: listeners.first { $0.name == "turn tls" }?.address.port,
                                                muxPort: muxAddress?.port),
                group: signalingGroup ?? ownGroup!, connections: httpLimiter, events: { [events] in events.signaling($0) },
                logger: logger)
        } catch var error as InvalidSetting {
            await relay.stop()
            error.source = error.source ?? "configuration"
            throw error
        } catch {
            await relay.stop()
            throw error
        }
        await signaling.set(http)
        let (bound, boundContinuation) = AsyncStream.makeStream(of: (String, Int).self)
        let https = configuration.httpsPort.flatMap { port in tls.map { (port: Int(port), tls: $0) } }
        let expected = https == nil ? 1 : 2
        let (stopHTTP, stopContinuation) = AsyncStream.makeStream(of: Void.self)
        // Detached, so that the framework does not see our graceful shutdown at once: the hub must end every
        // session (1001, 410) before the framework closes the connections under it.
        let (host, port) = (configuration.listenIP.description, Int(configuration.httpPort))
        let httpTask = Task.detached {
            do {
                let count = NIOLockedValueBox(0)
                try await http.run(host: host, port: port, https: https, stop: stopHTTP) { name, port in
                    boundContinuation.yield((name, port))
                    if count.withLockedValue({ $0 += 1; return $0 }) == expected { boundContinuation.finish() }
                }
            } catch {
                // A bind that failed must end the wait for the port below, or `serve` hangs with no word.
                boundContinuation.finish()
                throw error
            }
        }
        var ports: [String: Int] = [:]
        for await (name, port) in bound { ports[name] = port }
        guard let httpPort = ports["http"], https == nil || ports["https"] != nil else {
            await relay.stop()
            stopContinuation.finish()
            let address = TransportAddress(ip: configuration.listenIP, port: configuration.httpPort).description
            do {
                try await httpTask.value
            } catch {
                let failure = ListenerStartError(listener: "http", address: address, error: error)
                logger.error("cannot start listener", metadata: ["error": "\(failure)"])
                throw failure
            }
            throw ListenerStartError(listener: "http", address: address, error: ServiceStartError.httpDidNotStart)
        }
        var all = listeners + [BoundListener(name: "http", address: TransportAddress(ip: configuration.listenIP, port: UInt16(httpPort)))]
        if let httpsPort = ports["https"] {
            all.append(BoundListener(name: "https", address: TransportAddress(ip: configuration.listenIP, port: UInt16(httpsPort))))
        }
        var mux: (any Channel)?
        if let muxAddress, let pipeline = await relay.streamPipeline {
            do {
                let (channel, address) = try await MuxListener.bind(
                    muxAddress, group: signalingGroup ?? ownGroup!,
                    relay: pipeline, http: http, tls: tls,
                    sorting: ConnectionLimiter(maxTotal: configuration.maxTCPConnections, maxPerAddress: configuration.maxConnectionsPerIP))
                mux = channel
                all.append(BoundListener(name: "mux", address: address))
            } catch {
                logger.error("cannot start listener", metadata: ["error": "\(error)"])
                stopContinuation.finish()
                _ = try? await httpTask.value
                await relay.stop()
                throw error
            }
        }
        defer { mux?.close(promise: nil) }
        let admin: AdminListener
        do {
            let backend = AdminBackend.serving(
                relay: relay, signaling: { [signaling] in await signaling.server }, ledger: ledger, metrics: metrics,
                httpConnections: { [httpLimiter] in httpLimiter.open }, webhooks: webhooks,
                alternateServer: configuration.alternateServer)
            admin = try await AdminListener.start(AdminServer(backend: backend, token: adminToken, logger: logger),
                                                  at: TransportAddress(ip: configuration.adminIP, port: configuration.adminPort),
                                                  group: signalingGroup ?? ownGroup!, logger: logger)
            all.append(BoundListener(name: "admin", address: admin.address))
        } catch {
            logger.error("cannot start listener", metadata: ["error": "\(error)"])
            stopContinuation.finish()
            _ = try? await httpTask.value
            await relay.stop()
            throw error
        }
        for listener in all {
            logger.info("listening", metadata: ["listener": "\(listener)"])
        }
        onReady(all)
        let hangup = reloadOnHangup()
        defer { hangup?.cancel() }
        try? await gracefulShutdown()
        logger.info("shutting down")
        await admin.stop()
        stopContinuation.finish()
        // HTTP connections get a moment to finish; a client that never sent a request must not hold up the exit.
        let (finished, finish) = AsyncStream.makeStream(of: Void.self)
        Task {
            _ = try? await httpTask.value
            finish.finish()
        }
        let deadline = Task {
            try await Task.sleep(for: .seconds(4))
            httpTask.cancel()
            try await Task.sleep(for: .seconds(2))
            finish.finish()
        }
        for await _ in finished {}
        deadline.cancel()
        await relay.stop()
    }

    /// SIGHUP reloads the certificate files (as nginx and coturn do); nil when there are none to reload.
    private func reloadOnHangup() -> (any DispatchSourceSignal)? {
        guard tls != nil, !configuration.selfSigned else { return nil }
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let logger = self.logger
        source.setEventHandler { [self] in
            do {
                try reloadCertificate()
            } catch {
                logger.error("certificate not reloaded; the one in force stays", metadata: ["error": "\(error)"])
            }
        }
        source.resume()
        return source
    }

    /// The signaling edge's settings; reads the ES256 key file and picks the URL hosts for `iceServers`.
    private func signalingSettings(stunPort: UInt16, turnsPort: UInt16?, muxPort: UInt16?) throws -> SignalingEdgeSettings {
        var publicKey: String?
        if let file = configuration.jwtPublicKeyFile {
            guard let pem = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw InvalidSetting(key: "jwt-public-key", problem: "cannot read \(file)")
            }
            publicKey = pem
        }
        var hosts = configuration.publicHosts
        if hosts.isEmpty, let external = configuration.externalIP {
            hosts = [PublicHost.urlHost(external)]
        } else if hosts.isEmpty, !configuration.listenIP.isUnspecified {
            hosts = [PublicHost.urlHost(configuration.listenIP)]
        }
        if hosts.isEmpty {
            logger.warning("""
                no --public-host and a wildcard listen address: iceServers URLs name the local address each client \
                reached, which is wrong behind NAT or a load balancer. Set --public-host to the relay's public name.
                """)
        }
        var settings = SignalingEdgeSettings(
            listenIP: configuration.listenIP, httpPort: configuration.httpPort, jwtSecret: configuration.jwtSecret,
            jwtPublicKeyPEM: publicKey, turnSecret: authSecrets[0], stunPort: stunPort, publicHosts: hosts,
            allowedOrigins: configuration.allowedOrigins, limits: configuration.signalingLimits,
            requestLimits: configuration.httpLimits, maxConnections: configuration.httpMaxConnections,
            maxConnectionsPerIP: configuration.maxConnectionsPerIP)
        // The mux serves turns: only with a certificate.
        settings.turnsPorts = [turnsPort, tls == nil ? nil : muxPort].compactMap { $0 }
        return settings
    }
}

enum ServiceStartError: Error, CustomStringConvertible {
    case httpDidNotStart

    var description: String { "the HTTP listener did not start" }
}

/// Holds the signaling edge once `run()` has made it.
private actor SignalingSlot {
    var server: SignalingHTTPServer?

    func set(_ server: SignalingHTTPServer) { self.server = server }
}
