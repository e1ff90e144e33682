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
              let index = allocations.index(forKey: fiveTuple),
              let binding = allocations.values[index].channels[number] else { return drop() }
        relayToPeer(data, peer: binding.peer, allocation: index, channelExpiry: binding.expiry, into: &actions)
    }

    private func relayToPeer(_ data: ByteBuffer, peer: TransportAddress, from fiveTuple: FiveTuple,
                             into actions: inout [TURNAction]) {
        guard let index = allocations.index(forKey: fiveTuple) else { return drop() }
        relayToPeer(data, peer: peer, allocation: index, channelExpiry: nil, into: &actions)
    }

    // The allocation is reached through its index and changed in place: copying the `Allocation` value out and back
    // (its dictionaries and buckets with it) cost a retain and release of each field on every relayed packet.
    // The peer policy is not asked again here: a permission exists only for a peer it allowed.
    private func relayToPeer(_ data: ByteBuffer, peer: TransportAddress, allocation index: Dictionary<FiveTuple, Allocation>.Index,
                             channelExpiry: Timestamp?, into actions: inout [TURNAction]) {
        let now = clock.now()
        guard case .active = allocations.values[index].state, allocations.values[index].relayProtocol == .udp,
              allocations.values[index].hasPermission(peer.ip, now: now), channelExpiry.map({ now < $0 }) ?? true,
              let relay = allocations.values[index].relay(for: peer.ip.family) else { return drop() }
        if configuration.maxBytesPerSecondPerAllocation > 0 {
            guard allocations.values[index].toPeerBucket.take(data.readableBytes, now: now) else {
                counters.packetsRateLimited += 1
                return
            }
        }
        counters.packetsToPeer += 1
        counters.bytesToPeer += data.readableBytes
        allocations.values[index].traffic.toPeer(data.readableBytes)
        actions.append(.toPeer(data, relay: relay, peer: peer))
    }

    /// A datagram from a peer arrived on a relay socket (RFC 8656 §10.3, §12.6): forwarded as ChannelData when a
    /// channel is bound to the peer, as a Data indication otherwise, and only when a permission exists.
    public func handlePeerDatagram(_ data: ByteBuffer, from peer: TransportAddress, relay: TransportAddress,
                                   into actions: inout [TURNAction]) {
        let route = routePeerDatagram(length: data.readableBytes, from: peer, relay: relay)
        guard let fiveTuple = route.fiveTuple else { return }
        var out = ByteBufferAllocator().buffer(capacity: data.readableBytes + 36)
        route.frame(data, from: peer, into: &out)
        actions.append(.toClient(out, fiveTuple))
    }

    /// The decision of `handlePeerDatagram` without the framing, for an edge that frames into its own buffers.
    /// Counts the packet as forwarded (or dropped) as `handlePeerDatagram` does.
    public func routePeerDatagram(length: Int, from peer: TransportAddress, relay: TransportAddress) -> PeerDatagramRoute {
        let now = clock.now()
        guard let fiveTuple = relayOwners[relay], let index = allocations.index(forKey: fiveTuple),
              case .active = allocations.values[index].state,
              allocations.values[index].hasPermission(peer.ip, now: now) else {
            drop()
            return .drop
        }
        if configuration.maxBytesPerSecondPerAllocation > 0 {
            guard allocations.values[index].toClientBucket.take(length, now: now) else {
                counters.packetsRateLimited += 1
                return .drop
            }
        }
        counters.packetsToClient += 1
        counters.bytesToClient += length
        allocations.values[index].traffic.toClient(length)
        if let number = allocations.values[index].channelByPeer[peer], let binding = allocations.values[index].channels[number],
           now < binding.expiry {
            return .channelData(number, to: fiveTuple)
        }
        return .dataIndication(to: fiveTuple)
    }

    private func drop() {
        counters.packetsDropped += 1
    }
}

/// How a datagram from a peer reaches the client: in ChannelData on a bound channel, or in a Data indication.
public enum PeerDatagramRoute: Equatable, Sendable {
    case channelData(UInt16, to: FiveTuple)
    case dataIndication(to: FiveTuple)
    case drop

    public var fiveTuple: FiveTuple? {
        switch self {
        case .channelData(_, let fiveTuple), .dataIndication(let fiveTuple): fiveTuple
        case .drop: nil
        }
    }

    /// Appends the framed datagram to `out` (nothing for `.drop`).
    public func frame(_ data: ByteBuffer, from peer: TransportAddress, into out: inout ByteBuffer) {
        switch self {
        case .channelData(let number, let fiveTuple):
            ChannelData.write(channel: number, data: data, stream: fiveTuple.transport.isStream, into: &out)
        case .dataIndication:
            STUNMessage(type: STUNMessageType(method: .data, messageClass: .indication),
                        attributes: [.xorPeerAddress(peer), .data(data)]).encode(into: &out)
        case .drop:
            break
        }
    }
}
