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
        if let action = routeClientChannelData(buffer, from: fiveTuple).action { actions.append(action) }
    }

    /// The decision of `handleClientChannelData` as a value rather than an action, for an edge that sends at once:
    /// the relayed packet then costs no action built, queued and taken apart. Counts it as `handleClientChannelData`
    /// does.
    public func routeClientChannelData(_ buffer: ByteBuffer, from fiveTuple: FiveTuple) -> ClientDatagramRoute {
        guard case .success(let (number, data)) = ChannelData.parse(buffer) else {
            drop()
            return .drop
        }
        let now = clock.now()
        let admission = allocations[fiveTuple]?.admitChannelData(number, bytes: data.readableBytes, now: now,
                                                                 limited: configuration.maxBytesPerSecondPerAllocation > 0)
        return route(data, admission ?? .drop)
    }

    private func relayToPeer(_ data: ByteBuffer, peer: TransportAddress, from fiveTuple: FiveTuple,
                             into actions: inout [TURNAction]) {
        let now = clock.now()
        let admission = allocations[fiveTuple]?.admitToPeer(peer, bytes: data.readableBytes, channelExpiry: nil, now: now,
                                                            limited: configuration.maxBytesPerSecondPerAllocation > 0)
        if let action = route(data, admission ?? .drop).action { actions.append(action) }
    }

    private func route(_ data: ByteBuffer, _ admission: Allocation.Admission) -> ClientDatagramRoute {
        switch admission {
        case .relay(let relay, let peer):
            counters.packetsToPeer += 1
            counters.bytesToPeer += data.readableBytes
            return .toPeer(data, relay: relay, peer: peer)
        case .rateLimited:
            counters.packetsRateLimited += 1
        case .drop:
            drop()
        }
        return .drop
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
        guard let owner = relayOwner(of: relay) else {
            drop()
            return .drop
        }
        return routePeerDatagram(length: length, from: peer, to: owner.allocation)
    }

    /// `routePeerDatagram(length:from:relay:)` for an edge that kept the relay's owner (`relayOwner(of:)`) beside its
    /// socket: no look-up by address per packet.
    public func routePeerDatagram(length: Int, from peer: TransportAddress, owner: RelayOwner) -> PeerDatagramRoute {
        guard !owner.allocation.isDeleted else {
            drop()
            return .drop
        }
        return routePeerDatagram(length: length, from: peer, to: owner.allocation)
    }

    /// The owner of a relay address the edge is opening a socket for; nil when no allocation holds it.
    public func relayOwner(of relay: TransportAddress) -> RelayOwner? {
        guard let fiveTuple = relayOwners[relay], let allocation = allocations[fiveTuple] else { return nil }
        return RelayOwner(allocation: allocation)
    }

    private func routePeerDatagram(length: Int, from peer: TransportAddress, to allocation: Allocation) -> PeerDatagramRoute {
        let now = clock.now()
        let fiveTuple = allocation.fiveTuple
        let admission = allocation.admitFromPeer(peer, bytes: length, now: now,
                                                 limited: configuration.maxBytesPerSecondPerAllocation > 0)
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
            // Too long for a STUN message: its 16-bit length would wrap, and over TCP or TLS the client would read
            // the peer's payload as messages of its own (forged ChannelData or Data indications).
            guard length <= PeerDatagramRoute.largestDataIndicationPayload else {
                drop()
                return .drop
            }
            counters.packetsToClient += 1
            counters.bytesToClient += length
        }
        return .dataIndication(to: fiveTuple)
    }

    private func drop() {
        counters.packetsDropped += 1
    }
}

/// Where ChannelData from a client goes: its payload to a peer from a relay address, or nowhere (counted as dropped or
/// rate-limited by the core).
public enum ClientDatagramRoute {
    case toPeer(ByteBuffer, relay: TransportAddress, peer: TransportAddress)
    case drop

    /// The action that carries the route out, for callers that answer with actions; nil for `.drop`.
    var action: TURNAction? {
        guard case .toPeer(let data, let relay, let peer) = self else { return nil }
        return .toPeer(data, relay: relay, peer: peer)
    }
}

/// The allocation behind one relay address, as an edge keeps it beside the relay socket, so that datagrams from peers
/// reach it without two look-ups by address per packet. The relay's address never changes owner while its socket is
/// open: the core asks for the socket to be closed when the allocation ends.
public struct RelayOwner {
    let allocation: Allocation

    /// The client the relay's datagrams are for.
    public var fiveTuple: FiveTuple { allocation.fiveTuple }
}

/// How a datagram from a peer reaches the client: in ChannelData on a bound channel, or in a Data indication.
public enum PeerDatagramRoute: Equatable, Sendable {
    case channelData(UInt16, to: FiveTuple)
    case dataIndication(to: FiveTuple)
    case drop

    /// The largest peer payload a Data indication can carry: the message's length field counts at most 65,535 bytes
    /// after the header, and XOR-PEER-ADDRESS (24 bytes for IPv6) and the DATA attribute's header (4) come before the
    /// payload, padded to 4. ChannelData's own length field holds any UDP payload.
    public static let largestDataIndicationPayload = 65_504

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
