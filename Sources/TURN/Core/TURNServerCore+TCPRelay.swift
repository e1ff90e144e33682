import NIOCore
import STUN

/// RFC 6062: TCP allocations. The core keeps the bookkeeping (which connection belongs to which allocation, what
/// waits for a ConnectionBind, until when); the edge holds the sockets and, once a pair is bound, moves the bytes.
extension TURNServerCore {
    /// RFC 6062 §5.2: connect from the relay address to a peer.
    func handleConnect(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp, into actions: inout [TURNAction]) {
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions),
              let allocation = ownedAllocation(request, fiveTuple, auth, now: now, into: &actions) else { return }
        func fail(_ error: STUNErrorCode) {
            reply(error: error, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
        }
        guard allocation.relayProtocol == .tcp else { return fail(STUNErrorCode(code: 400, reason: "Connect needs a TCP allocation")) }
        guard case .xorPeerAddress(let peer)? = request.attribute(.xorPeerAddress) else {
            return fail(STUNErrorCode(code: 400, reason: "XOR-PEER-ADDRESS is missing"))
        }
        if let error = peerError(peer, allocation: allocation, into: &actions) { return fail(error) }
        // Pending or bound, one connection per peer address (RFC 6062 §5.2).
        guard allocation.peerConnections[peer] == nil else { return fail(.connectionAlreadyExists) }
        guard allocation.peerConnections.count < configuration.maxPeerConnectionsPerAllocation,
              let relay = allocation.relay(for: peer.ip.family) else {
            return fail(STUNErrorCode(code: 508, reason: "Peer connection limit reached"))
        }
        let id = newConnectionID()
        allocation.peerConnections[peer] = id
        peerConnections[id] = PeerConnection(id: id, owner: fiveTuple, peer: peer, relay: relay,
                                             state: .connecting(request: request, auth: auth))
        actions.append(.connectPeer(id, relay: relay, peer: peer))
    }

    /// The edge's connection to the peer for a Connect is up: answer with its CONNECTION-ID and wait for the bind.
    public func peerConnected(_ id: UInt32, into actions: inout [TURNAction]) {
        guard var connection = peerConnections[id], case .connecting(let request, let auth) = connection.state else {
            // The allocation went away meanwhile: the edge must not keep the connection.
            actions.append(.closePeerConnection(id))
            return
        }
        let now = clock.now()
        connection.state = .awaitingBind(deadline: now.adding(seconds: configuration.peerConnectionTimeout))
        peerConnections[id] = connection
        reply(request.response(.successResponse, attributes: [.connectionID(id)]), to: request, on: connection.owner,
              auth: auth, now: now, into: &actions)
    }

    /// The edge could not connect to the peer (refused, unreachable, or no answer within the timeout): 447.
    public func peerConnectionFailed(_ id: UInt32, into actions: inout [TURNAction]) {
        closePeerConnection(id, into: &actions)
    }

    /// A peer connected to a TCP relay address (RFC 6062 §5.3). Accepted, with the CONNECTION-ID the client binds
    /// it by, when the allocation has a permission for the peer; nil means "close it".
    public func peerConnectionArrived(relay: TransportAddress, peer: TransportAddress,
                                      into actions: inout [TURNAction]) -> UInt32? {
        let now = clock.now()
        guard let owner = relayOwners[relay], let allocation = allocations[owner], case .active = allocation.state,
              allocation.relayProtocol == .tcp, allocation.hasPermission(peer.ip, now: now), policy.permits(peer.ip),
              allocation.peerConnections[peer] == nil,
              allocation.peerConnections.count < configuration.maxPeerConnectionsPerAllocation else {
            counters.peerConnectionsAbandoned += 1
            return nil
        }
        let id = newConnectionID()
        allocation.peerConnections[peer] = id
        peerConnections[id] = PeerConnection(id: id, owner: owner, peer: peer, relay: relay,
                                             state: .awaitingBind(deadline: now.adding(seconds: configuration.peerConnectionTimeout)))
        var out = ByteBufferAllocator().buffer(capacity: 64)
        write(STUNMessage(type: STUNMessageType(method: .connectionAttempt, messageClass: .indication),
                          attributes: [.xorPeerAddress(peer), .connectionID(id)]), auth: nil, into: &out)
        actions.append(.toClient(out, owner))
        return id
    }

    /// RFC 6062 §5.4: a new connection from the client claims a peer connection as its data connection.
    func handleConnectionBind(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp,
                              into actions: inout [TURNAction]) {
        guard fiveTuple.transport.isStream else {
            return reply(error: STUNErrorCode(code: 400, reason: "ConnectionBind needs a TCP or TLS connection"),
                         to: request, on: fiveTuple, auth: nil, now: now, into: &actions)
        }
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions) else { return }
        func fail(_ reason: String) {
            reply(error: STUNErrorCode(code: 400, reason: reason), to: request, on: fiveTuple, auth: auth, now: now,
                  into: &actions)
        }
        guard allocations[fiveTuple] == nil, dataConnections[fiveTuple] == nil else {
            return fail("A control or data connection cannot be bound")
        }
        guard case .connectionID(let id)? = request.attribute(.connectionID) else { return fail("CONNECTION-ID is missing") }
        // Unknown, expired, bound already, or another user's: all look the same, so ids cannot be probed.
        guard var connection = peerConnections[id], case .awaitingBind(let deadline) = connection.state, now < deadline,
              allocations[connection.owner]?.username == auth.username else {
            return fail("Unknown or expired CONNECTION-ID")
        }
        connection.state = .bound(data: fiveTuple)
        peerConnections[id] = connection
        dataConnections[fiveTuple] = id
        counters.peerConnectionsBound += 1
        // Not cached: the connection stops speaking STUN with this answer, so there is no retransmission to serve.
        var out = ByteBufferAllocator().buffer(capacity: 96)
        write(request.response(.successResponse), auth: auth, into: &out)
        actions.append(.bindConnection(id, data: fiveTuple, relay: connection.relay, response: out))
    }

    /// A peer connection ended in the edge (either side of a bound pair closed, or the peer went away).
    public func peerConnectionClosed(_ id: UInt32, into actions: inout [TURNAction]) {
        closePeerConnection(id, into: &actions, edgeClosed: true)
    }

    /// Forgets connection `id`, asks the edge to close it unless it did so itself, and answers a Connect still
    /// waiting with 447.
    func closePeerConnection(_ id: UInt32, into actions: inout [TURNAction], edgeClosed: Bool = false) {
        guard let connection = peerConnections.removeValue(forKey: id) else { return }
        if allocations[connection.owner]?.peerConnections[connection.peer] == id {
            allocations[connection.owner]?.peerConnections[connection.peer] = nil
        }
        switch connection.state {
        case .connecting(let request, let auth):
            counters.peerConnectionsAbandoned += 1
            if allocations[connection.owner] != nil {
                reply(error: .connectionTimeoutOrFailure, to: request, on: connection.owner, auth: auth, now: clock.now(),
                      into: &actions)
            }
        case .awaitingBind:
            counters.peerConnectionsAbandoned += 1
        case .bound(let data):
            dataConnections[data] = nil
        }
        if !edgeClosed { actions.append(.closePeerConnection(id)) }
    }

    /// Peer connections nobody bound in time are closed (RFC 6062 §5.3).
    func expirePeerConnections(now: Timestamp, into actions: inout [TURNAction]) {
        let late = peerConnections.values.compactMap { connection -> UInt32? in
            guard case .awaitingBind(let deadline) = connection.state, !(now < deadline) else { return nil }
            return connection.id
        }
        for id in late { closePeerConnection(id, into: &actions) }
    }

    private func newConnectionID() -> UInt32 {
        while true {
            let id = UInt32.random(in: 1...UInt32.max, using: &connectionIDs)
            if peerConnections[id] == nil { return id }
        }
    }
}
