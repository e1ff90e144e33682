#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import STUN
import EdgeSupport

/// The STUN/TURN client sockets: UDP on every RFC 5780 address/port pair and TCP on the primary one.
///
/// The UDP sockets live on the TURN shards' `DatagramLoop`s (the RFC 5780 ones on the first), so TURN state is
/// touched from one thread only; TCP connections live on SwiftNIO's loops and hop to the first shard's loop.
actor STUNListeners {
    private let settings: RelayListenerSettings
    private let shards: [TURNShard]
    private let group: EventLoopGroup
    let counters: STUNCounters
    private let connections: ConnectionLimiter
    private var channels: [Channel] = []
    private var sockets: [DatagramLoopBound<DatagramSocket>] = []
    /// Set once bound: what a STUN/TURN stream connection gets, for the listeners here and for the one-port mux.
    private(set) var streamPipeline: STUNStreamPipeline?

    init(settings: RelayListenerSettings, shards: [TURNShard], group: EventLoopGroup, counters: STUNCounters,
         connections: ConnectionLimiter) {
        self.settings = settings
        self.connections = connections
        self.shards = shards
        self.group = group
        self.counters = counters
    }

    /// Binds every socket and returns what was bound. With port 0 the ports the kernel picked are reused for the
    /// other IP, or the UDP port's number for TCP, which can collide with a stranger's socket. Fresh tries make that
    /// unlikely; many, because after a burst of outgoing connections (a benchmark's) most ephemeral TCP ports sit in
    /// TIME_WAIT for a minute, and five tries were seen to fail.
    func start() async throws -> [BoundListener] {
        var lastError: Error?
        for _ in 0..<32 {
            do {
                return try await bindAll()
            } catch {
                lastError = error
                await closeAll()
                // Only the STUN ports' numbers are picked here and reused (TCP on the UDP port's number); a port the
                // operator gave, or the TLS one (claimed on its own), fails the same way on every try.
                let picksPorts = settings.stunPort == 0 || (settings.alternateIP != nil && (settings.alternatePort ?? 1) == 0)
                let listener = (error as? ListenerStartError)?.listener
                if !picksPorts || !(listener == "stun udp" || listener == "stun tcp") { break }
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
        let udp = sockets
        sockets = []
        for socket in udp {
            try? await socket.loop.submit { socket.loop.close(socket.value) }
        }
    }

    private func bindAll() async throws -> [BoundListener] {
        let c = settings
        var listeners: [BoundListener] = []
        let first = shards[0]
        var bound: [ResponderSocket: BoundUDP] = [:]

        // The primary address is bound once per TURN core with SO_REUSEPORT: the kernel hashes each client's
        // 4-tuple to one socket, so its allocation, relay sockets and replies all stay on that core's loop.
        let reusePort = shards.count > 1
        bound[.primary] = try await bindUDP(TransportAddress(ip: c.listenIP, port: c.stunPort), socket: .primary,
                                            shard: first, reusePort: reusePort)
        let primaryAddress = bound[.primary]!.address
        var extraPrimaries: [BoundUDP] = []
        for shard in shards.dropFirst() {
            extraPrimaries.append(try await bindUDP(primaryAddress, socket: .primary, shard: shard, reusePort: true,
                                                    joining: true))
        }

        var addresses = ResponderAddresses(primary: primaryAddress)
        if let alternateIP = c.alternateIP {
            let samePIPortAlt = try await bindUDP(TransportAddress(ip: c.listenIP, port: c.alternatePort ?? 0),
                                                  socket: ResponderSocket(alternateIP: false, alternatePort: true),
                                                  shard: first)
            let alternatePort = samePIPortAlt.address.port
            bound[ResponderSocket(alternateIP: false, alternatePort: true)] = samePIPortAlt
            bound[ResponderSocket(alternateIP: true, alternatePort: false)] =
                try await bindUDP(TransportAddress(ip: alternateIP, port: primaryAddress.port),
                                  socket: ResponderSocket(alternateIP: true, alternatePort: false), shard: first)
            bound[ResponderSocket(alternateIP: true, alternatePort: true)] =
                try await bindUDP(TransportAddress(ip: alternateIP, port: alternatePort),
                                  socket: ResponderSocket(alternateIP: true, alternatePort: true), shard: first)
            addresses.alternate = TransportAddress(ip: alternateIP, port: alternatePort)
        }
        let responder = BindingResponder(addresses: addresses, software: c.software)

        var routes = ResponderSockets()
        // The sockets only pass through here into `ResponderSockets`, which is read on their loops.
        for (socket, udp) in bound { routes.sockets[socket.index] = udp.socket.unsafeValue }
        // Until a receiver has the responder (which needs every bound address) it drops what it reads; nobody knows
        // the ports before the readiness line, so that loses nothing.
        var installs: [(BoundUDP, ResponderSockets)] = bound.values.map { ($0, routes) }
        for udp in extraPrimaries {
            // Its own socket answers for the primary; RFC 5780 answers from other addresses go via core 0's sockets.
            var own = routes
            own.sockets[ResponderSocket.primary.index] = udp.socket.unsafeValue
            installs.append((udp, own))
        }
        for (udp, frozen) in installs {
            let receiver = udp.receiver
            try await receiver.loop.submit { receiver.value.install(responder: responder, routes: frozen) }
        }
        for socket in ResponderSocket.all {
            guard let udp = bound[socket] else { continue }
            listeners.append(BoundListener(name: "stun udp", address: udp.address))
        }

        let challenger = try await first.edge.submit { $0.core.streamChallenger }
        let pipeline = STUNStreamPipeline(responder: responder, counters: counters, connections: connections,
                                          idle: .seconds(Int64(settings.tcpIdleTimeoutSeconds)), turn: first.edge,
                                          challenger: challenger)
        streamPipeline = pipeline
        let tcp = try await bindStream(primaryAddress, name: "stun tcp", pipeline: pipeline, tls: nil)
        listeners.append(BoundListener(name: "stun tcp", address: tcp))
        if let tls = c.tls {
            let address = TransportAddress(ip: c.listenIP, port: tls.port)
            listeners.append(BoundListener(name: "turn tls", address: try await bindStream(address, name: "turn tls",
                                                                                           pipeline: pipeline, tls: tls.context)))
        }
        return listeners
    }

    /// `joining`: the address is our own first socket's, bound already, and this one joins its SO_REUSEPORT group.
    private func bindUDP(_ address: TransportAddress, socket kind: ResponderSocket, shard: TURNShard,
                         reusePort: Bool = false, joining: Bool = false) async throws -> BoundUDP {
        let counters = self.counters
        let edge = shard.edge
        // Listeners share their port (SO_REUSEADDR, SO_REUSEPORT), and would share it with a second server too.
        let address = joining ? address
            : try await ListenerStartError.naming("stun udp", address) { try ListenerPortProbe.claim(address, .datagram) }
        let udp = try await ListenerStartError.naming("stun udp", address) { try await shard.loop.submit {
            let receiver = STUNDatagramReceiver(socket: kind, turn: edge.edgeOnLoop, counters: counters)
            // Bursts from many clients land on this one socket: the kernel default (≈208 KiB) dropped 0.04 % of
            // requests under load in Benchmarks/stun-binding; the kernel caps this at net.core.rmem_max.
            let socket = try shard.loop.openSocket(at: address, listener: true, reusePort: reusePort, bufferBytes: 4 << 20,
                                                   packetInfo: address.ip.isUnspecified, receiver: receiver)
            return BoundUDP(socket: DatagramLoopBound(socket, loop: shard.loop),
                            receiver: DatagramLoopBound(receiver, loop: shard.loop), address: socket.address)
        } }
        sockets.append(udp.socket)
        return udp
    }
    /// STUN/TURN over TCP, or over TLS when `tls` is given: the same framing, handler and TURN edge either way, the
    /// TLS handshake (bounded in time) in front.
    ///
    /// One listening socket per SwiftNIO loop, joined by SO_REUSEPORT: the kernel spreads connections over them and
    /// each is accepted and served on the same thread. One listener would accept on one loop and hand about every
    /// other connection to another thread, a wake-up per connection that `turns:` clients, one Allocate per
    /// connection, pay in full (docs/benchmarks.md).
    private func bindStream(_ address: TransportAddress, name: String, pipeline: STUNStreamPipeline,
                            tls: TLSContextSource?) async throws -> TransportAddress {
        // Claimed first, so every socket of the group binds the same concrete port, port 0 included.
        let bound = try await ListenerStartError.naming(name, address) { try ListenerPortProbe.claim(address, .stream) }
        for loop in group.makeIterator() {
            let channel = try await ListenerStartError.naming(name, bound) { try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: 1)
                .serverChannelOption(.backlog, value: 4096)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try pipeline.install(on: channel, tls: tls?.current) }
                }
                .bind(to: bound.socketAddress).get() }
            channels.append(channel)
        }
        return bound
    }
}

/// A bound UDP listener as the actor keeps it: socket and receiver are opened only on their loop; `address` is a copy.
private struct BoundUDP: Sendable {
    let socket: DatagramLoopBound<DatagramSocket>
    let receiver: DatagramLoopBound<STUNDatagramReceiver>
    let address: TransportAddress
}
