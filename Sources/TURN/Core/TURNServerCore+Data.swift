import NIOCore
import STUN

extension TURNServerCore {
    /// A Send indication (RFC 8656 §10.2): relayed when the allocation has a permission for the peer; silently
    /// dropped otherwise, as indications get no answer.
    func handleSend(_ indication: STUNMessage, from fiveTuple: FiveTuple, into actions: inout [TURNAction]) {
        var peer: TransportAddress?
        var data: ByteBuffer?
        for attribute in indication.attributes {
            switch attribute {
            case .xorPeerAddress(let address): if peer == nil { peer = address }
            case .data(let bytes): if data == nil { data = bytes }
            default: break
            }
        }
        guard let peer, let data else { return drop() }
        relayToPeer(data, peer: peer, from: fiveTuple, into: &actions)
    }

    /// ChannelData from a client. `buffer` holds one ChannelData message (a datagram, or a unit framed from a stream).
    public func handleClientChannelData(_ buffer: ByteBuffer, from fiveTuple: FiveTuple, into actions: inout [TURNAction]) {
        guard case .success(let (number, data)) = ChannelData.parse(buffer),
              let binding = allocations[fiveTuple]?.channels[number] else { return drop() }
        relayToPeer(data, peer: binding.peer, from: fiveTuple, channelExpiry: binding.expiry, into: &actions)
    }

    private func relayToPeer(_ data: ByteBuffer, peer: TransportAddress, from fiveTuple: FiveTuple,
                             channelExpiry: Timestamp? = nil, into actions: inout [TURNAction]) {
        let now = clock.now()
        guard var allocation = allocations[fiveTuple], case .active = allocation.state,
              allocation.hasPermission(peer.ip, now: now), channelExpiry.map({ now < $0 }) ?? true,
              policy.permits(peer.ip), let relay = allocation.relay(for: peer.ip.family) else { return drop() }
        if configuration.maxBytesPerSecondPerAllocation > 0 {
            guard allocation.toPeerBucket.take(data.readableBytes, now: now) else {
                counters.packetsRateLimited += 1
                return
            }
            allocations[fiveTuple] = allocation
        }
        counters.packetsToPeer += 1
        counters.bytesToPeer += data.readableBytes
        actions.append(.toPeer(data, relay: relay, peer: peer))
    }

    /// A datagram from a peer arrived on a relay socket (RFC 8656 §10.3, §12.6): forwarded as ChannelData when a
    /// channel is bound to the peer, as a Data indication otherwise, and only when a permission exists.
    public func handlePeerDatagram(_ data: ByteBuffer, from peer: TransportAddress, relay: TransportAddress,
                                   into actions: inout [TURNAction]) {
        let now = clock.now()
        guard let fiveTuple = relayOwners[relay], var allocation = allocations[fiveTuple], case .active = allocation.state,
              allocation.hasPermission(peer.ip, now: now) else { return drop() }
        if configuration.maxBytesPerSecondPerAllocation > 0 {
            guard allocation.toClientBucket.take(data.readableBytes, now: now) else {
                counters.packetsRateLimited += 1
                return
            }
            allocations[fiveTuple] = allocation
        }
        var out = ByteBufferAllocator().buffer(capacity: data.readableBytes + 36)
        if let number = allocation.channelByPeer[peer], let binding = allocation.channels[number], now < binding.expiry {
            ChannelData.write(channel: number, data: data, stream: fiveTuple.transport.isStream, into: &out)
        } else {
            let indication = STUNMessage(type: STUNMessageType(method: .data, messageClass: .indication),
                                         attributes: [.xorPeerAddress(peer), .data(data)])
            indication.encode(into: &out)
        }
        counters.packetsToClient += 1
        counters.bytesToClient += data.readableBytes
        actions.append(.toClient(out, fiveTuple))
    }

    private func drop() {
        counters.packetsDropped += 1
    }
}
