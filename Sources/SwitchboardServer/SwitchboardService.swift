import Logging
import NIOConcurrencyHelpers
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
    /// One TURN core per event loop; a client's 5-tuple always lands on the same one (SO_REUSEPORT hashing).
    private let shards: [TURNShard]
    private let hubBox = HubBox()
    private let httpLimiter: ConnectionLimiter
    private let tcpLimiter: ConnectionLimiter

    public init(configuration: ServerConfiguration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                clock: any TURNClock = SystemTURNClock(), logger: Logger,
                onReady: @escaping @Sendable ([BoundListener]) -> Void = { _ in }) throws {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onReady = onReady
        self.clock = clock
        httpLimiter = ConnectionLimiter(maxTotal: configuration.httpMaxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        tcpLimiter = ConnectionLimiter(maxTotal: configuration.maxTCPConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        DescriptorLimit.raise(needed: configuration.descriptorsNeeded, logger: logger)
        var secrets = configuration.authSecrets
        if secrets.isEmpty {
            secrets = [generatedAuthSecret()]
            logger.notice("no --auth-secret given; TURN REST credentials use a secret generated for this run",
                          metadata: ["auth-secret": "\(secrets[0])"])
        }
        self.authSecrets = secrets
        let credentials = configuration.credentialStore(secrets: secrets)
        let policy = try configuration.peerPolicy()
        let base = configuration.turnConfiguration
        let ledger = AllocationLedger(maxTotal: base.maxAllocations,
                                      maxPerUser: Self.perUserAllocations(configuration: configuration, base: base))
        // Every core must accept every core's nonces (a client's NAT binding may move it to another loop).
        var random = SystemRandomNumberGenerator()
        let nonceSecret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let count = Self.turnThreadCount(configuration: configuration)
        self.shards = try (0..<count).map { index in
            var turnConfiguration = base
            turnConfiguration.relayPorts = Self.portSlice(base.relayPorts, index: index, of: count)
            let loop = try DatagramLoop(name: "udp-loop-\(index)")
            let core = TURNServerCore(configuration: turnConfiguration, credentials: credentials, policy: policy,
                                      clock: clock, nonceSecret: nonceSecret, ledger: ledger)
            let edge = TURNEdge(loop: loop, core: core, logger: logger)
            return TURNShard(loop: loop, edge: TURNEdgeHandle(edge))
        }
        // Started only once all exist: a loop that failed to open must not leave the others' threads running.
        for shard in shards { shard.loop.start() }
    }

    /// The user quota, held to `--user-relay-share` of the relay range: each allocation takes at least one port,
    /// so without this one credential holder could take the whole range and leave everyone else 508.
    static func perUserAllocations(configuration: ServerConfiguration, base: TURNConfiguration) -> Int {
        let rangeSize = Int(configuration.relayPorts.upperBound) - Int(configuration.relayPorts.lowerBound) + 1
        let share = max(1, rangeSize * configuration.userRelayShare / 100)
        return min(base.maxAllocationsPerUser, share)
    }

    /// `--turn-threads` loops, at most one per core, fewer when the relay range is too small to split.
    private static func turnThreadCount(configuration: ServerConfiguration) -> Int {
        let wanted = max(1, configuration.turnThreads)
        let rangeSize = Int(configuration.relayPorts.upperBound) - Int(configuration.relayPorts.lowerBound) + 1
        return max(1, min(wanted, System.coreCount, rangeSize / 256))
    }

    /// Core `index` of `count` books relay ports from its own contiguous slice, so cores never race for a port.
    static func portSlice(_ range: ClosedRange<UInt16>, index: Int, of count: Int) -> ClosedRange<UInt16> {
        let lower = Int(range.lowerBound), size = Int(range.upperBound) - lower + 1
        let start = lower + size * index / count
        let end = lower + size * (index + 1) / count - 1
        return UInt16(start)...UInt16(end)
    }

    /// Runs `body` with the first TURN core on its event loop (tests and diagnostics).
    public func withTURNCore<T: Sendable>(_ body: @escaping @Sendable (TURNServerCore) -> T) async throws -> T {
        try await shards[0].edge.submit { body($0.core) }
    }

    /// Open relay sockets on every core (tests check that expiry releases them all).
    public func relaySocketCount() async throws -> Int {
        var total = 0
        for shard in shards {
            total += try await shard.edge.submit { $0.relayCount }
        }
        return total
    }

    /// Allocations on each TURN core.
    public func allocationCounts() async throws -> [Int] {
        var counts: [Int] = []
        for shard in shards {
            counts.append(try await shard.edge.submit { $0.core.allocationCount })
        }
        return counts
    }

    private static let nextHubLoop = NIOLockedValueBox(0)

    /// How many TURN cores (event loops) serve clients.
    public var turnThreadCount: Int { shards.count }

    public func run() async throws {
        let stun = STUNListeners(configuration: configuration, shards: shards, group: group, counters: counters,
                                 connections: tcpLimiter)
        let listeners: [BoundListener]
        do {
            listeners = try await stun.start()
        } catch {
            logger.error("cannot start STUN/TURN listeners", metadata: ["error": "\(error)"])
            await stopShards()
            throw error
        }
        for shard in shards {
            try await shard.edge.submit { $0.start() }
        }

        let http: SignalingHTTPServer
        do {
            http = try await makeSignalingServer(stunPort: listeners.first { $0.name == "stun udp" }?.address.port ?? configuration.stunPort)
        } catch {
            await stun.closeAll()
            await stopShards()
            throw error
        }
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let (stopHTTP, stopContinuation) = AsyncStream.makeStream(of: Void.self)
        // Detached, so that the framework does not see our graceful shutdown at once: the hub must end every
        // session (1001, 410) before the framework closes the connections under it.
        let (host, port) = (configuration.listenIP.description, Int(configuration.httpPort))
        let httpTask = Task.detached {
            do {
                try await http.run(host: host, port: port, stop: stopHTTP) { port in
                    boundContinuation.yield(port)
                    boundContinuation.finish()
                }
            } catch {
                // A bind that failed must end the wait for the port below, or `serve` hangs with no word.
                boundContinuation.finish()
                throw error
            }
        }
        var boundIterator = bound.makeAsyncIterator()
        guard let httpPort = await boundIterator.next() else {
            await stun.closeAll()
            await stopShards()
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
        let all = listeners + [BoundListener(name: "http", address: TransportAddress(ip: configuration.listenIP, port: UInt16(httpPort)))]
        for listener in all {
            logger.info("listening", metadata: ["listener": "\(listener)"])
        }
        onReady(all)
        try? await gracefulShutdown()
        logger.info("shutting down")
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
        await stun.closeAll()
        await stopShards()
    }

    private func stopShards() async {
        for shard in shards {
            try? await shard.edge.submit { $0.stop() }
            await shard.loop.stop()
        }
    }

    /// Live signaling sessions (tests and metrics); 0 before the HTTP side has started.
    public func signalingSessionCount() async -> Int {
        await hubBox.hub?.sessionCount ?? 0
    }

    /// Long-polling ids that still lead to a session (tests: it returns to 0 once sessions end).
    public func signalingPollIndexCount() async -> Int {
        await hubBox.hub?.pollIndexCount ?? 0
    }

    /// Open HTTP connections as the connection limiter counts them, and the addresses they come from.
    public var httpConnections: (open: Int, addresses: Int) { (httpLimiter.open, httpLimiter.addresses) }

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
        let directory = ICEServerDirectory(secret: authSecrets[0], port: stunPort, hosts: hosts)
        let limits = configuration.signalingLimits
        let group = SignalingHTTPServer.group(threads: max(1, configuration.signalingThreads))
        let loops = Array(group.makeIterator())
        // Hubs take the group's loops in turn: tests run many servers in one process, sharing the group.
        let hubLoop = loops[Self.nextHubLoop.withLockedValue { next in defer { next += 1 }; return next } % loops.count]
        let hub = SignalingHub(limits: limits, iceServers: { user, host in directory.iceServers(user: user, reachedHost: host) },
                               loop: hubLoop, connectionLoops: loops, logger: logger)
        await hubBox.set(hub)
        if configuration.allowedOrigins.isEmpty {
            logger.notice("no --allowed-origin: pages from any origin may use signaling and the HTTP API")
        }
        return SignalingHTTPServer(hub: hub, group: group, verifier: verifier, directory: directory, limits: limits, logger: logger,
                                   requestLimits: configuration.httpLimits, connections: httpLimiter,
                                   origins: OriginPolicy(allowed: configuration.allowedOrigins))
    }
}

enum ServiceStartError: Error, CustomStringConvertible {
    case httpDidNotStart

    var description: String { "the HTTP listener did not start" }
}

/// A TURN core and its sockets, on one datagram loop.
struct TURNShard: Sendable {
    let loop: DatagramLoop
    let edge: TURNEdgeHandle
}

/// Holds the signaling hub once `run()` has made it.
private actor HubBox {
    var hub: SignalingHub?

    func set(_ hub: SignalingHub) { self.hub = hub }
}
