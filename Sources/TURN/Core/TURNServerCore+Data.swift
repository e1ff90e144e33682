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
        guard case .success(let (number, data)) = ChannelData.parse(buffer) else { return drop() }
        let now = clock.now()
        let admission = allocations[fiveTuple]?.admitChannelData(number, bytes: data.readableBytes, now: now,
                                                                 limited: configuration.maxBytesPerSecondPerAllocation > 0)
        relay(data, admission ?? .drop, into: &actions)
    }

    private func relayToPeer(_ data: ByteBuffer, peer: TransportAddress, from fiveTuple: FiveTuple,
                             into actions: inout [TURNAction]) {
        let now = clock.now()
        let admission = allocations[fiveTuple]?.admitToPeer(peer, bytes: data.readableBytes, channelExpiry: nil, now: now,
                                                            limited: configuration.maxBytesPerSecondPerAllocation > 0)
        relay(data, admission ?? .drop, into: &actions)
    }

    private func relay(_ data: ByteBuffer, _ admission: Allocation.Admission, into actions: inout [TURNAction]) {
        switch admission {
        case .relay(let relay, let peer):
            counters.packetsToPeer += 1
            counters.bytesToPeer += data.readableBytes
            actions.append(.toPeer(data, relay: relay, peer: peer))
        case .rateLimited:
            counters.packetsRateLimited += 1
        case .drop:
            drop()
        }
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
        guard let fiveTuple = relayOwners[relay],
              let admission = allocations[fiveTuple]?.admitFromPeer(peer, bytes: length, now: now,
                                                                     limited: configuration.maxBytesPerSecondPerAllocation > 0)
        else {
            drop()
            return .drop
        }
        switch admission {
        case .drop:
            drop()
            return .drop
        case .rateLimited:
            counters.packetsRateLimited += 1
            return .drop
        case .channel(let number):
            counters.packetsToClient += 1
            counters.bytesToClient += length
            return .channelData(number, to: fiveTuple)
        case .indication:
            counters.packetsToClient += 1
            counters.bytesToClient += length
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

// The per-packet checks, called on the allocation the table holds (a class: no copy, no accessor coroutine).
extension Allocation {
    enum Admission {
        case relay(TransportAddress, peer: TransportAddress)
        case rateLimited
        case drop
    }

    enum PeerAdmission {
        case channel(UInt16)
        case indication
        case rateLimited
        case drop
    }

    func admitChannelData(_ number: UInt16, bytes: Int, now: Timestamp, limited: Bool) -> Admission {
        guard let binding = channels[number] else { return .drop }
        return admitToPeer(binding.peer, bytes: bytes, channelExpiry: binding.expiry, now: now, limited: limited)
    }

    /// The peer policy is not asked again here: a permission exists only for a peer it allowed.
    func admitToPeer(_ peer: TransportAddress, bytes: Int, channelExpiry: Timestamp?, now: Timestamp,
                              limited: Bool) -> Admission {
        guard case .active = state, relayProtocol == .udp, hasPermission(peer.ip, now: now),
              channelExpiry.map({ now < $0 }) ?? true, let relay = relay(for: peer.ip.family) else { return .drop }
        if limited, !toPeerBucket.take(bytes, now: now) { return .rateLimited }
        traffic.toPeer(bytes)
        return .relay(relay, peer: peer)
    }

    func admitFromPeer(_ peer: TransportAddress, bytes: Int, now: Timestamp, limited: Bool) -> PeerAdmission {
        guard case .active = state, hasPermission(peer.ip, now: now) else { return .drop }
        if limited, !toClientBucket.take(bytes, now: now) { return .rateLimited }
        traffic.toClient(bytes)
        if let number = channelByPeer[peer], let binding = channels[number], now < binding.expiry { return .channel(number) }
        return .indication
    }
}
