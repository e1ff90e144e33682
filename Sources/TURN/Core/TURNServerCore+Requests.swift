import NIOCore
import STUN

extension TURNServerCore {
    /// The allocation a request refers to, checking ownership; nil means "already answered" (437 or 441).
    func ownedAllocation(_ request: STUNMessage, _ fiveTuple: FiveTuple, _ auth: AuthenticatedUser, now: Timestamp,
                                 into actions: inout [TURNAction]) -> Allocation? {
        guard let allocation = allocations[fiveTuple], case .active = allocation.state else {
            reply(error: .allocationMismatch, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
            return nil
        }
        guard allocation.username == auth.username else {
            reply(error: .wrongCredentials, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
            return nil
        }
        return allocation
    }

    /// RFC 8656 §7.3.
    func handleRefresh(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp, into actions: inout [TURNAction]) {
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions),
              let allocation = ownedAllocation(request, fiveTuple, auth, now: now, into: &actions) else { return }
        if case .requestedAddressFamily(let family)? = request.attribute(.requestedAddressFamily),
           !allocation.families.contains(family) {
            return reply(error: .peerAddressFamilyMismatch, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
        }
        var requested: UInt32?
        if case .lifetime(let value)? = request.attribute(.lifetime) { requested = value }
        if requested == 0 {
            deleteAllocation(fiveTuple, reason: .deleted, into: &actions)
            return reply(request.response(.successResponse, attributes: [.lifetime(0)]), to: request, on: fiveTuple,
                         auth: auth, now: now, into: &actions)
        }
        let granted = grantedLifetime(requested)
        allocation.expiry = now.adding(seconds: granted)
        allocation.lifetime = granted
        actions.append(.event(.allocationRefreshed(fiveTuple, lifetime: granted)))
        reply(request.response(.successResponse, attributes: [.lifetime(granted)]), to: request, on: fiveTuple,
              auth: auth, now: now, into: &actions)
    }

    /// Checks a peer address for CreatePermission, ChannelBind and Connect: family (443) and policy (403).
    func peerError(_ peer: TransportAddress, allocation: Allocation, into actions: inout [TURNAction]) -> STUNErrorCode? {
        guard allocation.families.contains(peer.ip.family) else { return .peerAddressFamilyMismatch }
        guard policy.permits(peer.ip) else {
            actions.append(.event(.peerDenied(allocation.fiveTuple, username: allocation.username, peer: peer.ip)))
            return STUNErrorCode(code: 403, reason: "Peer address not allowed")
        }
        return nil
    }

    /// RFC 8656 §9: every XOR-PEER-ADDRESS is installed, or none is.
    func handleCreatePermission(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp, into actions: inout [TURNAction]) {
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions),
              let allocation = ownedAllocation(request, fiveTuple, auth, now: now, into: &actions) else { return }
        let peers: [TransportAddress] = request.attributes.compactMap {
            if case .xorPeerAddress(let peer) = $0 { return peer }
            return nil
        }
        guard !peers.isEmpty else {
            return reply(error: STUNErrorCode(code: 400, reason: "XOR-PEER-ADDRESS is missing"), to: request,
                         on: fiveTuple, auth: auth, now: now, into: &actions)
        }
        for peer in peers {
            if let error = peerError(peer, allocation: allocation, into: &actions) {
                return reply(error: error, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
            }
        }
        let added = Set(peers.map(\.ip)).filter { allocation.permissions[$0] == nil }.count
        guard allocation.permissions.count + added <= configuration.maxPermissionsPerAllocation else {
            return reply(error: STUNErrorCode(code: 508, reason: "Permission limit reached"), to: request,
                         on: fiveTuple, auth: auth, now: now, into: &actions)
        }
        let expiry = now.adding(seconds: configuration.permissionLifetime)
        for peer in peers {
            if allocation.permissions.updateValue(expiry, forKey: peer.ip) == nil {
                actions.append(.event(.permissionCreated(fiveTuple, peer: peer.ip)))
            }
        }
        for ip in Set(peers.map(\.ip)) { routeChannels(of: fiveTuple, peerIP: ip, into: &actions) }
        reply(request.response(.successResponse), to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
    }

    /// RFC 8656 §11.
    func handleChannelBind(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp, into actions: inout [TURNAction]) {
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions),
              let allocation = ownedAllocation(request, fiveTuple, auth, now: now, into: &actions) else { return }
        func fail(_ error: STUNErrorCode) {
            reply(error: error, to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
        }
        guard allocation.relayProtocol == .udp else {
            return fail(STUNErrorCode(code: 400, reason: "Channels are for UDP relays"))
        }
        guard case .channelNumber(let number)? = request.attribute(.channelNumber) else {
            return fail(STUNErrorCode(code: 400, reason: "CHANNEL-NUMBER is missing"))
        }
        guard ChannelData.validNumbers.contains(number) else {
            return fail(STUNErrorCode(code: 400, reason: "Channel number outside 0x4000-0x7FFF"))
        }
        guard case .xorPeerAddress(let peer)? = request.attribute(.xorPeerAddress) else {
            return fail(STUNErrorCode(code: 400, reason: "XOR-PEER-ADDRESS is missing"))
        }
        if let error = peerError(peer, allocation: allocation, into: &actions) { return fail(error) }
        if let bound = allocation.channels[number], bound.peer != peer {
            return fail(STUNErrorCode(code: 400, reason: "Channel already bound to another peer"))
        }
        if let boundNumber = allocation.channelByPeer[peer], boundNumber != number {
            return fail(STUNErrorCode(code: 400, reason: "Peer already bound to another channel"))
        }
        if let cooling = allocation.channelCooldowns[number], cooling.peer != peer, now < cooling.expiry {
            return fail(STUNErrorCode(code: 400, reason: "Channel number still reserved for its previous peer"))
        }
        if allocation.channels[number] == nil, allocation.channels.count >= configuration.maxChannelsPerAllocation {
            return fail(STUNErrorCode(code: 508, reason: "Channel limit reached"))
        }
        if allocation.permissions[peer.ip] == nil, allocation.permissions.count >= configuration.maxPermissionsPerAllocation {
            return fail(STUNErrorCode(code: 508, reason: "Permission limit reached"))
        }
        if allocation.channels[number] == nil { actions.append(.event(.channelBound(fiveTuple, channel: number, peer: peer))) }
        if allocation.permissions[peer.ip] == nil { actions.append(.event(.permissionCreated(fiveTuple, peer: peer.ip))) }
        allocation.channels[number] = ChannelBinding(peer: peer, expiry: now.adding(seconds: configuration.channelLifetime))
        allocation.channelByPeer[peer] = number
        allocation.channelCooldowns[number] = nil
        allocation.permissions[peer.ip] = now.adding(seconds: configuration.permissionLifetime)
        routeChannels(of: fiveTuple, peerIP: peer.ip, into: &actions)
        reply(request.response(.successResponse), to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
    }
}
