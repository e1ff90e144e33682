import KernelFastPath
import Logging
import NIOCore
import NIOPosix
import STUN
import TURN

/// The sockets around the sans-I/O `TURNServerCore`: it feeds the core what the client listeners and relay
/// sockets receive, and carries out the actions the core returns.
///
/// Everything here lives on one `DatagramLoop` (its UDP listeners and every relay socket belong to it), so the core
/// is used without locks or hops. TCP clients live on SwiftNIO's loops and reach it through `TURNEdgeHandle`.
final class TURNEdge {
    let loop: DatagramLoop
    let core: TURNServerCore
    let logger: Logger
    var actions: [TURNAction] = []
    /// The batch `perform` is carrying out while new actions collect in `actions`.
    private var performing: [TURNAction] = []
    /// The UDP listener each local server address was reached through (several with RFC 5780 or a wildcard bind).
    private var udpListeners: [TransportAddress: DatagramSocket] = [:]
    private(set) var tcpConnections: [FiveTuple: Channel] = [:]
    /// Each TCP or TLS client's routed channels, on its own loop, and which routes were handed to them.
    private var streamRoutes: [FiveTuple: NIOLoopBound<StreamChannelRoutes>] = [:]
    private var installedStreamRoutes: [ChannelRoute.Key: TransportAddress] = [:]
    /// How many installed routes each connection has on each relay: its thread holds one descriptor per relay, not one
    /// per route, so a client's channels cannot multiply the process's descriptors.
    private var streamRouteRelays: [StreamRouteRelay: Int] = [:]

    private struct StreamRouteRelay: Hashable {
        var client: FiveTuple
        var relay: TransportAddress
    }
    private var relays: [TransportAddress: DatagramSocket] = [:]
    private var expiryTimer: Int?

    // RFC 6062 TCP relays: their sockets are SwiftNIO channels on `group`, reporting back through the handle.
    let group: any EventLoopGroup
    var tcpRelayListeners: [TransportAddress: any Channel] = [:]
    /// What each TCP allocation's data connections share (their count, and `max-bps`), by relay address.
    var tcpRelayMeters: [TransportAddress: StreamRelayMeter] = [:]
    var peerChannels: [UInt32: any Channel] = [:]
    var peerConnectionIDs: [ObjectIdentifier: UInt32] = [:]

    /// Where lifecycle events go; called on this loop, must not block.
    private let events: @Sendable (TURNEvent) -> Void
    /// This core's channels in the kernel fast path, when the server runs one.
    let kernelRoutes: ChannelRouteTable?

    init(loop: DatagramLoop, core: TURNServerCore, group: any EventLoopGroup,
         events: @escaping @Sendable (TURNEvent) -> Void = { _ in }, kernelRoutes: ChannelRouteTable? = nil,
         logger: Logger) {
        self.loop = loop
        self.core = core
        self.group = group
        self.events = events
        self.kernelRoutes = kernelRoutes
        self.logger = logger
        actions.reserveCapacity(8)
        performing.reserveCapacity(8)
    }

    func start() {
        loop.endOfTurn = { [unowned self] in streamOutbox.flush() }
        expiryTimer = loop.scheduleRepeating(every: .seconds(1)) { [unowned self] in
            // What the kernel forwarded goes into the core's counters and allocations before anything expires.
            kernelRoutes?.collect { core.kernelForwarded($0, $1) }
            reportStreamTraffic()
            core.expire(into: &actions)
            perform()
        }
    }

    /// Closes every relay socket and TCP client (the listeners are closed by their owner). A TCP client left open
    /// would keep calling into a loop that has stopped.
    func stop() {
        if let expiryTimer { loop.cancelTimer(expiryTimer) }
        kernelRoutes?.removeAll()
        for relay in relays.values { loop.close(relay) }
        relays = [:]
        for channel in tcpConnections.values { channel.close(promise: nil) }
        tcpConnections = [:]
        for routes in streamRoutes.values { routes.eventLoop.execute { routes.value.removeAll() } }
        streamRoutes = [:]
        installedStreamRoutes = [:]
        streamRouteRelays = [:]
        for channel in tcpRelayListeners.values { channel.close(promise: nil) }
        tcpRelayListeners = [:]
        tcpRelayMeters = [:]
        for channel in peerChannels.values { channel.close(promise: nil) }
        peerChannels = [:]
        peerConnectionIDs = [:]
        udpListeners = [:]
    }

    /// Datagrams for TCP clients dropped because their connection was not draining (UDP semantics: a relay does
    /// not queue media without bound for a slow client).
    private(set) var droppedTCPFrames = 0

    /// Writes to TCP and TLS clients, handed over once per connection at the end of the loop's turn.
    private let streamOutbox = StreamClientOutbox()

    private func writeToTCPClient(_ bytes: ByteBuffer, _ fiveTuple: FiveTuple) {
        guard let channel = writableTCPClient(fiveTuple) else { return }
        let added = streamOutbox.append(to: channel, capacity: bytes.readableBytes) { $0.writeImmutableBuffer(bytes) }
        if !added { droppedTCPFrames &+= 1 }
    }

    /// The client's connection when it is draining; nil (and a frame counted as dropped) when it is not.
    private func writableTCPClient(_ fiveTuple: FiveTuple) -> Channel? {
        guard let channel = tcpConnections[fiveTuple] else { return nil }
        guard channel.isWritable else {
            droppedTCPFrames &+= 1
            return nil
        }
        return channel
    }

    var relayCount: Int { relays.count }

    /// Ends a user's or a session's allocations (the operator's revoke and kick) and closes their sockets.
    func closeAllocations(user: String?, session: String?) -> Int {
        let count = core.closeAllocations(user: user, session: session, into: &actions)
        perform()
        return count
    }

    // MARK: Input from clients

    func clientMessage(_ message: STUNMessage, from fiveTuple: FiveTuple, via listener: DatagramSocket?) {
        remember(listener, for: fiveTuple)
        core.handleClientMessage(message, from: fiveTuple, into: &actions)
        perform()
    }

    /// Sent at once, without an action: this is the path of every relayed packet from a client. The listener need not
    /// be remembered here: ChannelData is relayed only for an allocation, whose Allocate came through the same one.
    func clientChannelData(_ bytes: ByteBuffer, from fiveTuple: FiveTuple) {
        guard case .toPeer(let data, let relay, let peer) = core.routeClientChannelData(bytes, from: fiveTuple),
              let socket = relays[relay] else { return }
        loop.send(data, to: peer, via: socket)
    }

    func tcpConnectionOpened(_ fiveTuple: FiveTuple, channel: Channel, routes: NIOLoopBound<StreamChannelRoutes>) {
        tcpConnections[fiveTuple] = channel
        streamRoutes[fiveTuple] = routes
    }

    func tcpConnectionClosed(_ fiveTuple: FiveTuple) {
        tcpConnections[fiveTuple] = nil
        core.clientTransportClosed(fiveTuple, into: &actions)
        perform()
        // After the allocation's routes were asked back, which needs the table.
        streamRoutes[fiveTuple] = nil
    }

    // MARK: Routes on the threads of TCP and TLS clients

    private func installStreamRoute(_ route: ChannelRoute) {
        guard let routes = streamRoutes[route.fiveTuple], let socket = relays[route.relay], socket.isOpen else { return }
        guard installedStreamRoutes[route.key] == nil else {
            // A refresh: the route is there, with its descriptor; only the expiry moves.
            routes.eventLoop.execute { routes.value.install(route, descriptor: nil) }
            return
        }
        let use = StreamRouteRelay(client: route.fiveTuple, relay: route.relay)
        var descriptor: Int32?
        if streamRouteRelays[use, default: 0] == 0 {
            // The client's thread sends from its own descriptor of the relay socket, valid until it closes it.
            let duplicate = fcntl(socket.fd, F_DUPFD_CLOEXEC, 0)
            guard duplicate >= 0 else { return }
            descriptor = duplicate
        }
        streamRouteRelays[use, default: 0] += 1
        installedStreamRoutes[route.key] = route.relay
        routes.eventLoop.execute { routes.value.install(route, descriptor: descriptor) }
    }

    /// Takes a route back; the core hears what it sent once the client's thread has let it go.
    private func removeStreamRoute(_ route: ChannelRoute) {
        guard let relay = installedStreamRoutes.removeValue(forKey: route.key),
              let routes = streamRoutes[route.fiveTuple] else {
            core.kernelRouteRemoved(route.key, KernelRouteCounts(), into: &actions)
            return
        }
        let use = StreamRouteRelay(client: route.fiveTuple, relay: relay)
        if let count = streamRouteRelays[use], count > 1 { streamRouteRelays[use] = count - 1 } else { streamRouteRelays[use] = nil }
        let handle = TURNEdgeHandle(self)
        routes.eventLoop.execute {
            let counts = routes.value.remove(route.key)
            handle.streamRouteRemoved(route.key, counts)
        }
    }

    func streamRouteRemoved(_ key: ChannelRoute.Key, _ counts: KernelRouteCounts) {
        core.kernelRouteRemoved(key, counts, into: &actions)
        perform()
    }

    func streamRoutesForwarded(_ counts: [(ChannelRoute.Key, KernelRouteCounts)]) {
        for (key, count) in counts { core.kernelForwarded(key, count) }
    }

    private func remember(_ listener: DatagramSocket?, for fiveTuple: FiveTuple) {
        if let listener, udpListeners[fiveTuple.server] == nil {
            udpListeners[fiveTuple.server] = listener
        }
    }

    // MARK: Input from peers

    fileprivate func peerDatagram(_ bytes: ByteBuffer, from peer: TransportAddress, via receiver: RelayReceiver) {
        let route = if let owner = receiver.owner {
            core.routePeerDatagram(length: bytes.readableBytes, from: peer, owner: owner)
        } else {
            core.routePeerDatagram(length: bytes.readableBytes, from: peer, relay: receiver.relay)
        }
        guard let fiveTuple = route.fiveTuple else { return }
        if fiveTuple.transport == .udp {
            let listener: DatagramSocket
            if let cached = receiver.clientListener {
                listener = cached
            } else {
                guard let found = udpListeners[fiveTuple.server] else { return }
                // Once: writing the cached reference back on every packet cost a retain and a release each time.
                receiver.clientListener = found
                listener = found
            }
            // Framed straight into the loop's outgoing buffer: relaying to a client allocates nothing.
            let start = loop.outgoing.writerIndex
            route.frame(bytes, from: peer, into: &loop.outgoing)
            loop.commit(from: start, to: fiveTuple.client, via: listener)
        } else {
            guard let channel = writableTCPClient(fiveTuple) else { return }
            // Room for the larger of the two framings: a Data indication around the payload, or ChannelData padded.
            let added = streamOutbox.append(to: channel, capacity: bytes.readableBytes + 56) {
                route.frame(bytes, from: peer, into: &$0)
            }
            if !added { droppedTCPFrames &+= 1 }
        }
    }

    // MARK: Actions

    func perform() {
        // Opening a relay answers at once (`relayOpened`), which may add actions: run until none are left. The two
        // arrays trade places rather than copy: `actions.removeAll(keepingCapacity:)` on a shared buffer allocated a
        // new one for every relayed packet (perf probe on malloc in the running server).
        while !actions.isEmpty {
            swap(&actions, &performing)
            for action in performing {
                switch action {
                case .toClient(let bytes, let fiveTuple):
                    if fiveTuple.transport == .udp {
                        if let listener = udpListeners[fiveTuple.server] {
                            loop.send(bytes, to: fiveTuple.client, via: listener)
                        }
                    } else {
                        writeToTCPClient(bytes, fiveTuple)
                    }
                case .toPeer(let bytes, let relay, let peer):
                    if let socket = relays[relay] {
                        loop.send(bytes, to: peer, via: socket)
                    }
                case .openRelay(let address, let dontFragment):
                    openRelay(address, dontFragment: dontFragment)
                case .closeRelay(let address):
                    if let socket = relays.removeValue(forKey: address) { loop.close(socket) }
                    if let listener = tcpRelayListeners.removeValue(forKey: address) {
                        closeTCPRelay(address, listener: listener)
                    }
                case .openTCPRelay(let address):
                    openTCPRelay(address)
                case .connectPeer(let id, let relay, let peer):
                    connectPeer(id, relay: relay, peer: peer)
                case .bindConnection(let id, let data, let relay, let response):
                    bindConnection(id, data: data, relay: relay, response: response)
                case .closePeerConnection(let id):
                    if let channel = peerChannels.removeValue(forKey: id) {
                        peerConnectionIDs[ObjectIdentifier(channel)] = nil
                        channel.close(promise: nil)
                    }
                case .routeChannel(let route):
                    if route.fiveTuple.transport == .udp {
                        kernelRoutes?.install(route)
                    } else {
                        installStreamRoute(route)
                    }
                case .unrouteChannel(let route):
                    if route.fiveTuple.transport == .udp {
                        let counts = kernelRoutes?.remove(route.key) ?? KernelRouteCounts()
                        core.kernelRouteRemoved(route.key, counts, into: &actions)
                    } else {
                        removeStreamRoute(route)
                    }
                case .event(let event):
                    events(event)
                }
            }
            performing.removeAll(keepingCapacity: true)
        }
    }

    private func openRelay(_ address: TransportAddress, dontFragment: Bool) {
        do {
            let socket = try loop.openSocket(at: address, dontFragment: dontFragment,
                                             receiver: RelayReceiver(edge: self, relay: address,
                                                                     owner: core.relayOwner(of: address)))
            relays[address] = socket
            core.relayOpened(address, into: &actions)
        } catch {
            logger.debug("relay bind failed", metadata: ["relay": "\(address)", "error": "\(error)"])
            core.relayFailed(address, into: &actions)
        }
    }
}

/// Datagrams from peers on one relay socket. It keeps what stays the same for the socket's life (its allocation, and
/// the listener its client is answered from) so that a relayed packet looks neither up by address.
private final class RelayReceiver: DatagramReceiver {
    unowned let edge: TURNEdge
    let relay: TransportAddress
    let owner: RelayOwner?
    /// The UDP listener of the owner's client, once a datagram went to it.
    var clientListener: DatagramSocket?

    init(edge: TURNEdge, relay: TransportAddress, owner: RelayOwner?) {
        self.edge = edge
        self.relay = relay
        self.owner = owner
    }

    func received(_ bytes: ByteBuffer, from source: TransportAddress, local: IPAddress?, on socket: DatagramSocket) {
        edge.peerDatagram(bytes, from: source, via: self)
    }
}

/// A TCP or TLS client as the edge first hears of it: the connection, and the table of its routed channels.
struct StreamClientConnection: Sendable {
    let channel: any Channel
    let routes: NIOLoopBound<StreamChannelRoutes>
}

/// A STUN message or a ChannelData message from a TCP or TLS client, on its way to the edge's loop.
enum StreamClientInput: Sendable {
    case message(STUNMessage)
    case channelData(ByteBuffer)
}

/// The TURN edge as seen from SwiftNIO's threads (TCP clients): every call hops onto the edge's loop.
/// Unchecked: it holds the loop-confined `TURNEdge` only to pass it into tasks that run on that loop.
struct TURNEdgeHandle: @unchecked Sendable {
    // Only touched inside tasks run on `edge.loop`.
    private let edge: TURNEdge

    init(_ edge: TURNEdge) {
        self.edge = edge
    }

    var loop: DatagramLoop { edge.loop }

    /// The edge itself, for code already running on its loop.
    var edgeOnLoop: TURNEdge { edge }

    /// What one read of a stream client brought, in order, in one task. A batch of ChannelData only is shed when
    /// the loop is overloaded: a TCP client streaming faster than the loop drains must not grow the queue.
    /// `opening` is the connection itself, given with its first hand-over only: the edge learns of a connection
    /// when the core has something to do with it, so opening one costs the edge's loop no wake-up of its own, and a
    /// connection that only asks Binding requests (answered on SwiftNIO's loop) none at all.
    func clientInput(_ batch: [StreamClientInput], from fiveTuple: FiveTuple, opening: StreamClientConnection?,
                     sheddable: Bool) {
        let task: @Sendable () -> Void = { [self] in
            if let opening { edge.tcpConnectionOpened(fiveTuple, channel: opening.channel, routes: opening.routes) }
            for input in batch {
                switch input {
                case .message(let message): edge.clientMessage(message, from: fiveTuple, via: nil)
                case .channelData(let bytes): edge.clientChannelData(bytes, from: fiveTuple)
                }
            }
        }
        if sheddable, opening == nil {
            edge.loop.executeSheddable(task)
        } else {
            edge.loop.execute(task)
        }
    }

    /// What a connection's routes sent (their thread reports about once a second).
    func streamRoutesForwarded(_ counts: [(ChannelRoute.Key, KernelRouteCounts)]) {
        edge.loop.execute { [self] in edge.streamRoutesForwarded(counts) }
    }

    fileprivate func streamRouteRemoved(_ key: ChannelRoute.Key, _ counts: KernelRouteCounts) {
        edge.loop.execute { [self] in edge.streamRouteRemoved(key, counts) }
    }

    /// The core's clock, for the expiry of routes.
    var clock: any TURNClock { edge.core.clock }

    /// For connections announced by `clientInput` only.
    func tcpConnectionClosed(_ fiveTuple: FiveTuple) {
        edge.loop.execute { [self] in edge.tcpConnectionClosed(fiveTuple) }
    }

    // RFC 6062: what the TCP relay sockets report.

    func tcpRelayBound(_ address: TransportAddress, _ result: Result<any Channel, any Error>) {
        edge.loop.execute { [self] in edge.tcpRelayBound(address, result) }
    }

    func peerConnectDone(_ id: UInt32, _ result: Result<any Channel, any Error>) {
        edge.loop.execute { [self] in edge.peerConnectDone(id, result) }
    }

    func peerConnectionArrived(relay: TransportAddress, peer: TransportAddress, channel: any Channel) {
        edge.loop.execute { [self] in edge.peerConnectionArrived(relay: relay, peer: peer, channel: channel) }
    }

    func peerConnectionEnded(_ channel: ObjectIdentifier) {
        edge.loop.execute { [self] in edge.peerConnectionEnded(channel) }
    }

    /// Runs `body` with the edge on its loop.
    func submit<T: Sendable>(_ body: @escaping @Sendable (TURNEdge) throws -> T) async throws -> T {
        try await edge.loop.submit { [self] in try body(edge) }
    }
}
