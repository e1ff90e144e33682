#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import STUN

/// A socket the server listens on, as announced on the readiness line (`stun udp 127.0.0.1:3478`).
public struct BoundListener: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var address: TransportAddress

    public var description: String { "\(name) \(address)" }
}

/// The STUN/TURN client sockets: UDP on every RFC 5780 address/port pair and TCP on the primary one.
///
/// All of them live on one event loop, the TURN edge's, so that TURN state is touched from one thread only.
actor STUNListeners {
    private let configuration: ServerConfiguration
    private let shards: [TURNShard]
    private var group: EventLoop { shards[0].loop }
    private var turn: NIOLoopBound<TURNEdge>? { shards[0].edge }
    let counters: STUNCounters
    private var channels: [Channel] = []

    init(configuration: ServerConfiguration, shards: [TURNShard], counters: STUNCounters) {
        self.configuration = configuration
        self.shards = shards
        self.counters = counters
    }

    /// Binds every socket and returns what was bound. With port 0 the ports the kernel picked are reused for the
    /// other IP, which can collide with a stranger's socket; a few fresh tries make that vanishingly unlikely.
    func start() async throws -> [BoundListener] {
        var lastError: Error?
        for _ in 0..<5 {
            do {
                return try await bindAll()
            } catch {
                lastError = error
                await closeAll()
                let picksPorts = configuration.stunPort == 0 || (configuration.alternateIP != nil && (configuration.alternatePort ?? 1) == 0)
                if !picksPorts { break }
            }
        }
        throw lastError!
    }

    func closeAll() async {
        let open = channels
        channels = []
        for channel in open {
            try? await channel.close()
        }
    }

    private func bindAll() async throws -> [BoundListener] {
        let c = configuration
        var listeners: [BoundListener] = []
        var primaryAddress = TransportAddress(ip: c.listenIP, port: c.stunPort)
        var bound: [ResponderSocket: (Channel, TransportAddress)] = [:]

        // The primary address is bound once per TURN core with SO_REUSEPORT: the kernel hashes each client's
        // 4-tuple to one socket, so its allocation, relay sockets and replies all stay on that core's loop.
        let reusePort = shards.count > 1
        let primary = try await bindUDP(TransportAddress(ip: c.listenIP, port: c.stunPort), on: shards[0].loop, reusePort: reusePort)
        primaryAddress.port = primary.1.port
        bound[.primary] = primary
        var extraPrimaries: [(TURNShard, Channel)] = []
        for shard in shards.dropFirst() {
            let (channel, _) = try await bindUDP(primaryAddress, on: shard.loop, reusePort: true)
            extraPrimaries.append((shard, channel))
        }

        var addresses = ResponderAddresses(primary: primaryAddress)
        if let alternateIP = c.alternateIP {
            let samePIPortAlt = try await bindUDP(TransportAddress(ip: c.listenIP, port: c.alternatePort ?? 0), on: group)
            let alternatePort = samePIPortAlt.1.port
            bound[ResponderSocket(alternateIP: false, alternatePort: true)] = samePIPortAlt
            bound[ResponderSocket(alternateIP: true, alternatePort: false)] =
                try await bindUDP(TransportAddress(ip: alternateIP, port: primaryAddress.port), on: group)
            bound[ResponderSocket(alternateIP: true, alternatePort: true)] =
                try await bindUDP(TransportAddress(ip: alternateIP, port: alternatePort), on: group)
            addresses.alternate = TransportAddress(ip: alternateIP, port: alternatePort)
        }
        let responder = BindingResponder(addresses: addresses, software: c.software.isEmpty ? nil : c.software)

        var routes = ResponderChannels()
        for (socket, (channel, _)) in bound { routes.channels[socket.index] = channel }
        var handlers: [(Channel, ResponderSocket, TransportAddress, NIOLoopBound<TURNEdge>, ResponderChannels)] = []
        for socket in ResponderSocket.all {
            guard let (channel, address) = bound[socket] else { continue }
            handlers.append((channel, socket, address, shards[0].edge, routes))
        }
        for (shard, channel) in extraPrimaries {
            // Its own socket answers for the primary; RFC 5780 answers from other addresses go via core 0's sockets.
            var own = routes
            own.channels[ResponderSocket.primary.index] = channel
            handlers.append((channel, .primary, primaryAddress, shard.edge, own))
        }
        for (channel, socket, address, edge, frozenRoutes) in handlers {
            let counters = self.counters
            try await channel.eventLoop.submit {
                let handler = STUNDatagramHandler(responder: responder, socket: socket, boundAddress: address,
                                                  turn: edge.value, counters: counters)
                handler.routes = frozenRoutes
                try channel.pipeline.syncOperations.addHandler(handler)
            }.get()
        }
        for (channel, _, _, _, _) in handlers {
            try await channel.setOption(.autoRead, value: true).get()
        }
        for socket in ResponderSocket.all {
            guard let (_, address) = bound[socket] else { continue }
            listeners.append(BoundListener(name: "stun udp", address: address))
        }

        let tcp = try await bindTCP(primaryAddress, responder: responder)
        listeners.append(BoundListener(name: "stun tcp", address: tcp))
        return listeners
    }

    private func remember(_ channel: Channel) {
        channels.append(channel)
    }

    private func bindUDP(_ address: TransportAddress, on loop: EventLoop, reusePort: Bool = false) async throws -> (Channel, TransportAddress) {
        var bootstrap = DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.Types.SocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_REUSEPORT)), value: reusePort ? 1 : 0)
            // Bursts from many clients land on this one socket: the kernel default (≈208 KiB) dropped 0.04 % of
            // requests under load in Benchmarks/stun-binding; the kernel caps this at net.core.rmem_max.
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.socketOption(.so_sndbuf), value: 4 << 20)
            .channelOption(.autoRead, value: false)
            .channelOption(.datagramVectorReadMessageCount, value: 32)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 2048 * 32))
        if address.ip.isUnspecified {
            bootstrap = bootstrap.channelOption(.receivePacketInfo, value: true)
        }
        let channel = try await bootstrap.bind(to: address.socketAddress).get()
        remember(channel)
        guard let local = channel.localAddress.flatMap(TransportAddress.init) else {
            throw ConfigurationError(source: "listener", key: "stun-port", problem: "bound socket has no address")
        }
        return (channel, local)
    }

    private func bindTCP(_ address: TransportAddress, responder: BindingResponder) async throws -> TransportAddress {
        let counters = self.counters
        let maxConnections = configuration.maxTCPConnections
        let idle = TimeAmount.seconds(Int64(configuration.tcpIdleTimeoutSeconds))
        let turn = self.turn
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: idle),
                        ByteToMessageHandler(STUNStreamFramer()),
                        STUNStreamHandler(responder: responder, counters: counters, maxConnections: maxConnections,
                                          turn: turn?.value),
                    ])
                }
            }
            .bind(to: address.socketAddress).get()
        remember(channel)
        guard let local = channel.localAddress.flatMap(TransportAddress.init) else {
            throw ConfigurationError(source: "listener", key: "stun-port", problem: "bound socket has no address")
        }
        return local
    }
}
