#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import STUN
import TURN

/// RFC 6062: the sockets of TCP allocations. A relay address is a listening TCP socket; connections to peers leave
/// from that same address (SO_REUSEPORT on both), so a peer sees one address whichever side connected. Peer
/// connections read nothing until a data connection is bound to them: the kernel holds what the peer sends, which
/// is the buffering RFC 6062 §5.2 asks for, bounded by the socket's receive window.
extension TURNEdge {
    func openTCPRelay(_ address: TransportAddress) {
        let handle = TURNEdgeHandle(self)
        ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.socketOption(.reusePort), value: 1)
            .serverChannelOption(.backlog, value: 32)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PeerConnectionWatcher(edge: handle, acceptedOn: address))
                }
            }
            .bind(to: address.socketAddress)
            .whenComplete { handle.tcpRelayBound(address, $0) }
    }

    func tcpRelayBound(_ address: TransportAddress, _ result: Result<any Channel, any Error>) {
        switch result {
        case .success(let channel):
            // The allocation may have gone while the bind was under way.
            guard core.relayAddressesOwned(address) else {
                channel.close(promise: nil)
                return
            }
            tcpRelayListeners[address] = channel
            core.relayOpened(address, into: &actions)
        case .failure(let error):
            logger.debug("TCP relay bind failed", metadata: ["relay": "\(address)", "error": "\(error)"])
            core.relayFailed(address, into: &actions)
        }
        perform()
    }

    func connectPeer(_ id: UInt32, relay: TransportAddress, peer: TransportAddress) {
        let handle = TURNEdgeHandle(self)
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.reusePort), value: 1)
            .channelOption(.autoRead, value: false)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(Int64(core.configuration.peerConnectionTimeout)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PeerConnectionWatcher(edge: handle, acceptedOn: nil))
                }
            }
            .bind(to: relay.socketAddress)
            .connect(to: peer.socketAddress)
            .whenComplete { handle.peerConnectDone(id, $0) }
    }

    func peerConnectDone(_ id: UInt32, _ result: Result<any Channel, any Error>) {
        switch result {
        case .success(let channel) where channel.isActive:
            peerChannels[id] = channel
            peerConnectionIDs[ObjectIdentifier(channel)] = id
            core.peerConnected(id, into: &actions)
        case .success(let channel):
            channel.close(promise: nil)
            core.peerConnectionFailed(id, into: &actions)
        case .failure(let error):
            logger.debug("TCP peer connect failed", metadata: ["connection": "\(id)", "error": "\(error)"])
            core.peerConnectionFailed(id, into: &actions)
        }
        perform()
    }

    func peerConnectionArrived(relay: TransportAddress, peer: TransportAddress, channel: any Channel) {
        // Only while the listener is still ours: a connection accepted just before the relay closed is refused.
        if tcpRelayListeners[relay] != nil, let id = core.peerConnectionArrived(relay: relay, peer: peer, into: &actions) {
            peerChannels[id] = channel
            peerConnectionIDs[ObjectIdentifier(channel)] = id
        } else {
            channel.close(promise: nil)
        }
        perform()
    }

    func peerConnectionEnded(_ channel: ObjectIdentifier) {
        guard let id = peerConnectionIDs.removeValue(forKey: channel) else { return }
        peerChannels[id] = nil
        core.peerConnectionClosed(id, into: &actions)
        perform()
    }

    func bindConnection(_ id: UInt32, data: FiveTuple, relay: TransportAddress, response: ByteBuffer) {
        guard let peer = peerChannels[id], let client = tcpConnections[data] else {
            // One side closed while the bind crossed loops: the core hears of it through the other's close.
            if let peer = peerChannels.removeValue(forKey: id) {
                peerConnectionIDs[ObjectIdentifier(peer)] = nil
                peer.close(promise: nil)
            }
            core.peerConnectionClosed(id, into: &actions)
            return
        }
        StreamSplice.join(data: client, response: response, peer: peer, meter: meter(of: relay))
    }
}

extension TURNEdge {
    /// The allocation's meter, made with its first data connection (with a byte budget when `max-bps` is set).
    private func meter(of relay: TransportAddress) -> StreamRelayMeter {
        if let meter = tcpRelayMeters[relay] { return meter }
        let rate = core.configuration.maxBytesPerSecondPerAllocation
        let meter = StreamRelayMeter(rate: rate > 0 ? StreamRateLimit(bytesPerSecond: rate) : nil)
        tcpRelayMeters[relay] = meter
        return meter
    }

    /// What every TCP relay's data connections carried since the last report goes to the core.
    func reportStreamTraffic() {
        for (relay, meter) in tcpRelayMeters { core.streamRelayed(relay, meter.takeUnreported()) }
    }

    /// A TCP relay closes: its listener goes, and its last count reaches the core (which may be waiting for it to
    /// send `allocation.closed`).
    func closeTCPRelay(_ relay: TransportAddress, listener: any Channel) {
        listener.close(promise: nil)
        let counts = tcpRelayMeters.removeValue(forKey: relay)?.takeUnreported() ?? AllocationTraffic.Snapshot()
        core.streamRelayClosed(relay, counts, into: &actions)
    }
}

private extension NIOBSDSocket.Option {
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
}
