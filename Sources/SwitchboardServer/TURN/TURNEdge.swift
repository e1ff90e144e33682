#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import STUN
import TURN

/// The sockets around the sans-I/O `TURNServerCore`: it feeds the core what the client listeners and relay
/// sockets receive, and carries out the actions the core returns.
///
/// Everything here lives on one event loop (the client listeners, their TCP connections and every relay socket are
/// bound to it), so the core is used without locks or hops.
final class TURNEdge {
    let loop: EventLoop
    let core: TURNServerCore
    private let logger: Logger
    private var actions: [TURNAction] = []
    /// The UDP listener each local server address was reached through (several with RFC 5780 or a wildcard bind).
    private var udpListeners: [TransportAddress: Channel] = [:]
    private var tcpConnections: [FiveTuple: Channel] = [:]
    private var relays: [TransportAddress: Channel] = [:]
    private var expiryTask: RepeatedTask?
    /// Channels written to but not flushed yet: datagrams produced during one read burst leave in one `sendmmsg`.
    private var unflushed: [Channel] = []
    /// Peer datagrams of this read burst, framed for their UDP clients: relaying to a client allocates nothing.
    private var toClients = DatagramBatch(capacity: 64 * 1024)

    init(loop: EventLoop, core: TURNServerCore, logger: Logger) {
        self.loop = loop
        self.core = core
        self.logger = logger
        actions.reserveCapacity(8)
    }

    func start() {
        let bound = NIOLoopBound(self, eventLoop: loop)
        expiryTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let edge = bound.value
            edge.core.expire(into: &edge.actions)
            edge.perform()
            edge.flushPending()
        }
    }

    /// Closes every relay socket (the listeners are closed by their owner).
    func stop() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        expiryTask?.cancel()
        let closing = relays.values.map { $0.close() }
        relays = [:]
        return EventLoopFuture.andAllComplete(closing, on: loop)
    }

    var relayCount: Int { relays.count }

    // MARK: Input from clients

    func clientMessage(_ message: STUNMessage, from fiveTuple: FiveTuple, via channel: Channel) {
        remember(channel, for: fiveTuple)
        core.handleClientMessage(message, from: fiveTuple, into: &actions)
        perform()
    }

    func clientChannelData(_ bytes: ByteBuffer, from fiveTuple: FiveTuple, via channel: Channel) {
        remember(channel, for: fiveTuple)
        core.handleClientChannelData(bytes, from: fiveTuple, into: &actions)
        perform()
    }

    func tcpConnectionOpened(_ fiveTuple: FiveTuple, channel: Channel) {
        tcpConnections[fiveTuple] = channel
    }

    func tcpConnectionClosed(_ fiveTuple: FiveTuple) {
        tcpConnections[fiveTuple] = nil
        core.clientTransportClosed(fiveTuple, into: &actions)
        perform()
        flushPending()
    }

    private func remember(_ channel: Channel, for fiveTuple: FiveTuple) {
        if fiveTuple.transport == .udp, udpListeners[fiveTuple.server] == nil {
            udpListeners[fiveTuple.server] = channel
        }
    }

    // MARK: Input from peers

    func peerDatagram(_ bytes: ByteBuffer, from peer: TransportAddress, relay: TransportAddress) {
        let route = core.routePeerDatagram(length: bytes.readableBytes, from: peer, relay: relay)
        guard let fiveTuple = route.fiveTuple else { return }
        if fiveTuple.transport == .udp {
            guard let listener = udpListeners[fiveTuple.server] else { return }
            let start = toClients.bytes.writerIndex
            route.frame(bytes, from: peer, into: &toClients.bytes)
            toClients.commit(from: start, to: fiveTuple.client.socketAddress, via: listener)
        } else {
            var out = ByteBufferAllocator().buffer(capacity: bytes.readableBytes + 36)
            route.frame(bytes, from: peer, into: &out)
            tcpConnections[fiveTuple]?.writeAndFlush(out, promise: nil)
        }
    }

    // MARK: Actions

    private func perform() {
        guard !actions.isEmpty else { return }
        var pending = actions
        actions.removeAll(keepingCapacity: true)
        for action in pending {
            switch action {
            case .toClient(let bytes, let fiveTuple):
                if fiveTuple.transport == .udp {
                    if let listener = udpListeners[fiveTuple.server] {
                        listener.write(AddressedEnvelope(remoteAddress: fiveTuple.client.socketAddress, data: bytes), promise: nil)
                        markUnflushed(listener)
                    }
                } else {
                    tcpConnections[fiveTuple]?.writeAndFlush(bytes, promise: nil)
                }
            case .toPeer(let bytes, let relay, let peer):
                if let channel = relays[relay] {
                    channel.write(AddressedEnvelope(remoteAddress: peer.socketAddress, data: bytes), promise: nil)
                    markUnflushed(channel)
                }
            case .openRelay(let address, let dontFragment):
                openRelay(address, dontFragment: dontFragment)
            case .closeRelay(let address):
                relays.removeValue(forKey: address)?.close(promise: nil)
            }
        }
        pending.removeAll()
    }

    private func markUnflushed(_ channel: Channel) {
        if !unflushed.contains(where: { $0 === channel }) { unflushed.append(channel) }
    }

    /// Flushes what the last read burst produced; every socket handler calls it from `channelReadComplete`.
    func flushPending() {
        if !toClients.isEmpty {
            toClients.write { markUnflushed($0) }
        }
        guard !unflushed.isEmpty else { return }
        for channel in unflushed { channel.flush() }
        unflushed.removeAll(keepingCapacity: true)
        toClients.reset()
    }

    private func openRelay(_ address: TransportAddress, dontFragment: Bool) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        var bootstrap = DatagramBootstrap(group: loop)
            // Up to 8 datagrams per read syscall under load; 4 KiB each, beyond any WebRTC packet.
            .channelOption(.datagramVectorReadMessageCount, value: 8)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4096 * 8))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RelayDatagramHandler(edge: bound.value, relay: address))
                }
            }
        #if canImport(Glibc)
        if dontFragment, case .v4 = address.ip {
            bootstrap = bootstrap.channelOption(
                ChannelOptions.Types.SocketOption(level: SocketOptionLevel(IPPROTO_IP), name: SocketOptionName(IP_MTU_DISCOVER)),
                value: SocketOptionValue(IP_PMTUDISC_DO))
        }
        #endif
        bootstrap.bind(to: address.socketAddress).whenComplete { result in
            let edge = bound.value
            switch result {
            case .success(let channel):
                // The allocation may have gone while the bind was in flight.
                guard edge.core.relayAddressesOwned(address) else {
                    channel.close(promise: nil)
                    return
                }
                edge.relays[address] = channel
                edge.core.relayOpened(address, into: &edge.actions)
            case .failure(let error):
                edge.logger.debug("relay bind failed", metadata: ["relay": "\(address)", "error": "\(error)"])
                edge.core.relayFailed(address, into: &edge.actions)
            }
            edge.perform()
            edge.flushPending()
        }
    }
}

/// Datagrams from peers on one relay socket.
final class RelayDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let edge: TURNEdge
    private let relay: TransportAddress

    init(edge: TURNEdge, relay: TransportAddress) {
        self.edge = edge
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let peer = TransportAddress(envelope.remoteAddress) else { return }
        edge.peerDatagram(envelope.data, from: peer, relay: relay)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        edge.flushPending()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP errors from a peer must not close the relay.
    }
}
