import NIOCore
import STUN

/// The sans-I/O TURN server (RFC 8656): allocations keyed by 5-tuple, permissions, channels, authentication,
/// quotas and the peer address policy. It is fed decoded STUN requests, ChannelData and peer datagrams plus the
/// injected clock, and appends `TURNAction`s for its edge to carry out.
///
/// One instance belongs to one event loop: it is a class for in-place mutation of its tables, never shared.
public final class TURNServerCore {
    public let configuration: TURNConfiguration
    public let policy: PeerAddressPolicy
    /// The one clock of the core, and of the edge's fast paths that check a route's expiry.
    public let clock: any TURNClock
    let authenticator: LongTermAuthenticator

    var allocations: [FiveTuple: Allocation] = [:]
    /// Relay address → owning 5-tuple, for datagrams from peers.
    var relayOwners: [TransportAddress: FiveTuple] = [:]
    var allocationsPerUser: [String: Int] = [:]
    var ports: RelayPortPool
    var responses = ResponseCache()
    /// RFC 6062: TCP connections to peers by CONNECTION-ID, and the data connection each bound one arrived on.
    var peerConnections: [UInt32: PeerConnection] = [:]
    var dataConnections: [FiveTuple: UInt32] = [:]
    /// Allocations that ended while the kernel fast path still held routes of theirs (see `kernelRouteRemoved`).
    var closingAllocations: [FiveTuple: ClosingAllocation] = [:]
    /// TCP relays (RFC 6062) of ended allocations whose last traffic report is still to come from the edge.
    var closingStreamRelays: [TransportAddress: FiveTuple] = [:]
    /// CONNECTION-IDs are random, so one client cannot guess and bind another's; tests may seed it.
    var connectionIDs: any RandomNumberGenerator = BufferedSystemRandom()
    public internal(set) var counters = TURNCounters()

    /// Quotas shared with the other cores of the server; nil when this core is alone and counts for itself.
    let ledger: AllocationLedger?

    public init(configuration: TURNConfiguration, credentials: any CredentialStore, policy: PeerAddressPolicy,
                clock: any TURNClock, nonceSecret: [UInt8]? = nil, ledger: AllocationLedger? = nil) {
        self.configuration = configuration
        self.ledger = ledger
        self.policy = policy
        self.clock = clock
        self.authenticator = LongTermAuthenticator(
            realm: configuration.realm, credentials: credentials,
            nonces: NonceIssuer(secret: nonceSecret, lifetime: configuration.nonceLifetime))
        self.ports = RelayPortPool(range: configuration.relayPorts)
    }

    public var allocationCount: Int { allocations.count }
    public var bookedRelayPorts: Int { ports.bookedCount }

    /// The relay addresses of the allocation on a 5-tuple (for tests and diagnostics).
    public func relayAddresses(of fiveTuple: FiveTuple) -> [TransportAddress] {
        allocations[fiveTuple]?.relays ?? []
    }

    // MARK: Client messages

    /// A decoded STUN message from a client, other than Binding (which the `BindingResponder` answers).
    public func handleClientMessage(_ message: STUNMessage, from fiveTuple: FiveTuple, into actions: inout [TURNAction]) {
        switch message.type.messageClass {
        case .request:
            if let cached = responses.lookup(fiveTuple, message.transactionID) {
                counters.retransmissionsAnswered += 1
                actions.append(.toClient(cached, fiveTuple))
                return
            }
            let now = clock.now()
            if !message.unknownComprehensionRequired.isEmpty {
                // After the authentication checks (RFC 8489 §6.3): a signed request gets a signed 420, which its
                // client can verify, and an unauthenticated sender gets the challenge, not a cached error of its own.
                guard let auth = authenticate(message, on: fiveTuple, now: now, into: &actions) else { return }
                reply(error: .unknownAttribute, to: message, on: fiveTuple, auth: auth,
                      extra: [.unknownAttributes(message.unknownComprehensionRequired)], now: now, into: &actions)
                return
            }
            switch message.type.method {
            case .allocate: handleAllocate(message, from: fiveTuple, now: now, into: &actions)
            case .refresh: handleRefresh(message, from: fiveTuple, now: now, into: &actions)
            case .createPermission: handleCreatePermission(message, from: fiveTuple, now: now, into: &actions)
            case .channelBind: handleChannelBind(message, from: fiveTuple, now: now, into: &actions)
            case .connect: handleConnect(message, from: fiveTuple, now: now, into: &actions)
            case .connectionBind: handleConnectionBind(message, from: fiveTuple, now: now, into: &actions)
            default:
                reply(error: STUNErrorCode(code: 400, reason: "Unknown method \(message.type.method)"), to: message,
                      on: fiveTuple, auth: nil, now: now, into: &actions)
            }
        case .indication:
            if message.type.method == .send { handleSend(message, from: fiveTuple, into: &actions) }
        case .successResponse, .errorResponse:
            break
        }
    }

    /// Authenticates a request, answering 400/401/438 itself; nil means "already answered".
    func authenticate(_ request: STUNMessage, on fiveTuple: FiveTuple, now: Timestamp,
                      into actions: inout [TURNAction]) -> AuthenticatedUser? {
        let unixTime = clock.unixSeconds()
        switch authenticator.authenticate(request, from: fiveTuple.client, unixTime: unixTime) {
        case .authenticated(let user):
            if let ledger,
               ledger.isRevoked(user: QuotaUser.of(user.username), session: QuotaUser.session(of: user.username), unixTime: unixTime) {
                counters.authenticationFailures += 1
                var out = ByteBufferAllocator().buffer(capacity: 96)
                write(request.errorResponse(STUNErrorCode(code: 401, reason: "Credentials revoked")), auth: nil, into: &out)
                actions.append(.toClient(out, fiveTuple))
                return nil
            }
            return user
        case .rejected(let error, let challenge):
            counters.authenticationFailures += 1
            let extra = challenge ? authenticator.challenge(for: fiveTuple.client, unixTime: unixTime) : []
            // Challenges are not cached: a retransmission should get a fresh nonce anyway, and caching them would
            // let unauthenticated traffic fill the cache.
            var out = ByteBufferAllocator().buffer(capacity: 160)
            write(request.errorResponse(error, attributes: extra), auth: nil, into: &out)
            actions.append(.toClient(out, fiveTuple))
            return nil
        }
    }

    // MARK: Responses

    func write(_ response: STUNMessage, auth: AuthenticatedUser?, into out: inout ByteBuffer) {
        switch response.type.messageClass {
        case .successResponse: counters.count(response.type.method, result: "success")
        case .errorResponse: counters.count(response.type.method, result: String(response.errorCode?.code ?? 0))
        case .request, .indication: break
        }
        Self.encode(response, software: configuration.software, auth: auth, into: &out)
    }

    /// How every response leaves: SOFTWARE when configured, MESSAGE-INTEGRITY of the request's kind when
    /// authenticated, FINGERPRINT always. Shared with `StreamChallenger`, whose 401 must be the core's own bytes.
    static func encode(_ response: STUNMessage, software: String?, auth: AuthenticatedUser?, into out: inout ByteBuffer) {
        var response = response
        if let software { response.append(.software(software)) }
        let options = STUNMessage.EncodingOptions(integrityKey: auth?.key, integrityAlgorithms: [auth?.algorithm ?? .sha1],
                                                  fingerprint: true)
        response.encode(into: &out, options: options)
    }

    /// Sends (and caches, for retransmissions) a response to an authenticated request.
    func reply(_ response: STUNMessage, to request: STUNMessage, on fiveTuple: FiveTuple, auth: AuthenticatedUser?,
               now: Timestamp, into actions: inout [TURNAction]) {
        var out = ByteBufferAllocator().buffer(capacity: 160)
        write(response, auth: auth, into: &out)
        responses.store(out, for: fiveTuple, request.transactionID, now: now)
        actions.append(.toClient(out, fiveTuple))
    }

    func reply(error: STUNErrorCode, to request: STUNMessage, on fiveTuple: FiveTuple, auth: AuthenticatedUser?,
               extra: [STUNAttribute] = [], now: Timestamp, into actions: inout [TURNAction]) {
        if error.code >= 400 { counters.errorResponses += 1 }
        reply(request.errorResponse(error, attributes: extra), to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
    }

    // MARK: Time

    /// Removes what has expired: allocations (closing their relays), permissions, channels, reservations and
    /// cached responses. The edge calls this about once a second.
    public func expire(into actions: inout [TURNAction]) {
        let now = clock.now()
        var expired: [FiveTuple] = []
        for (fiveTuple, allocation) in allocations {
            if !(now < allocation.expiry) {
                expired.append(fiveTuple)
                continue
            }
            guard !allocation.permissions.isEmpty || !allocation.channels.isEmpty || !allocation.channelCooldowns.isEmpty else {
                continue
            }
            let unbound = allocations[fiveTuple]?.expireBindings(now: now, cooldown: configuration.channelCooldown) ?? []
            if let allocation = allocations[fiveTuple] {
                for (number, peer) in unbound { unrouteChannel(number, peer: peer, of: allocation, into: &actions) }
            }
        }
        for fiveTuple in expired {
            counters.allocationsExpired += 1
            deleteAllocation(fiveTuple, reason: .expired, into: &actions)
        }
        ports.expire(now: now)
        responses.expire(now: now)
        if !peerConnections.isEmpty { expirePeerConnections(now: now, into: &actions) }
    }

    /// The client's TCP connection closed: its allocation goes with it (RFC 8656 §3.1), and when it was an RFC 6062
    /// data connection, the peer connection spliced to it.
    public func clientTransportClosed(_ fiveTuple: FiveTuple, into actions: inout [TURNAction]) {
        deleteAllocation(fiveTuple, reason: .connectionClosed, into: &actions)
        if let id = dataConnections[fiveTuple] { closePeerConnection(id, into: &actions) }
    }

    func deleteAllocation(_ fiveTuple: FiveTuple, reason: AllocationEndReason, into actions: inout [TURNAction]) {
        guard let allocation = allocations.removeValue(forKey: fiveTuple) else { return }
        allocation.isDeleted = true
        let routesBefore = actions.count
        var portsHeld = false
        if case .active = allocation.state {
            for (number, binding) in allocation.channels {
                unrouteChannel(number, peer: binding.peer, of: allocation, into: &actions)
            }
            var routesOut = actions.count - routesBefore
            // A TCP relay's data connections are counted at the edge; their last count comes as the relay closes.
            if allocation.relayProtocol == .tcp {
                for relay in allocation.relays { closingStreamRelays[relay] = fiveTuple }
                routesOut += allocation.relays.count
            }
            if routesOut > 0 {
                // The event goes out once the fast path has reported what it forwarded on each route.
                var closing = ClosingAllocation(summary: allocation.summary, reason: reason, traffic: allocation.traffic,
                                                routesOut: routesOut, heldPorts: allocation.relays,
                                                routedChannels: Set(allocation.channels.keys))
                if let earlier = closingAllocations[fiveTuple] {
                    // A client that deleted an allocation and made another on the same connection before the first
                    // settled: the first's event goes now, its outstanding reports count towards this one.
                    actions.append(.event(.allocationClosed(earlier.summary, reason: earlier.reason,
                                                            traffic: earlier.traffic.snapshot)))
                    closing.routesOut += earlier.routesOut
                    closing.heldPorts += earlier.heldPorts
                    closing.routedChannels.formUnion(earlier.routedChannels)
                }
                closingAllocations[fiveTuple] = closing
                portsHeld = true
            } else {
                actions.append(.event(.allocationClosed(allocation.summary, reason: reason, traffic: allocation.traffic.snapshot)))
            }
        }
        for id in allocation.peerConnections.values { closePeerConnection(id, into: &actions) }
        for relay in allocation.relays {
            relayOwners[relay] = nil
            if !portsHeld { ports.release(relay) }
            actions.append(.closeRelay(relay))
        }
        let quotaUser = QuotaUser.of(allocation.username)
        if let count = allocationsPerUser[quotaUser] {
            allocationsPerUser[quotaUser] = count > 1 ? count - 1 : nil
        }
        ledger?.release(quotaUser)
    }
}

extension Allocation {
    /// Drops expired permissions and channels; returns the channels that expired.
    func expireBindings(now: Timestamp, cooldown: UInt32) -> [(UInt16, TransportAddress)] {
        permissions = permissions.filter { now < $0.value }
        var expired: [(UInt16, TransportAddress)] = []
        for (number, binding) in channels where !(now < binding.expiry) {
            channels[number] = nil
            channelByPeer[binding.peer] = nil
            channelCooldowns[number] = ChannelBinding(peer: binding.peer, expiry: binding.expiry.adding(seconds: cooldown))
            expired.append((number, binding.peer))
        }
        channelCooldowns = channelCooldowns.filter { now < $0.value.expiry }
        return expired
    }
}

/// What the core has counted since it started (exported as metrics later).
public struct TURNCounters: Sendable, Equatable {
    public var allocationsCreated = 0
    public var allocationsExpired = 0
    public var authenticationFailures = 0
    public var errorResponses = 0
    public var retransmissionsAnswered = 0
    public var packetsToPeer = 0
    public var packetsToClient = 0
    public var bytesToPeer = 0
    public var bytesToClient = 0
    /// Dropped: no allocation, no permission, unbound channel, malformed, denied peer.
    public var packetsDropped = 0
    /// Dropped by the per-allocation rate limit.
    public var packetsRateLimited = 0
    /// Of the relayed packets, those the kernel fast path forwarded.
    public var kernelPacketsToPeer = 0
    public var kernelPacketsToClient = 0
    /// Of the relayed packets, those a TCP or TLS client's thread sent to the peer on a routed channel.
    public var streamRoutedPacketsToPeer = 0
    /// RFC 6062: peer connections bound to a data connection, and those closed unbound (refused, failed, timed out).
    public var peerConnectionsBound = 0
    public var peerConnectionsAbandoned = 0
    /// Answers to TURN requests by method name and result (`success`, or the error code): a few dozen keys at most,
    /// as the methods and the codes the core sends are fixed.
    public var responses: [String: [String: Int]] = [:]

    public init() {}

    mutating func count(_ method: STUNMethod, result: String) {
        responses[method.metricName, default: [:]][result, default: 0] += 1
    }

    /// Adds `count` 401 challenges to unauthenticated Allocates that a stream edge answered (`StreamChallenger`).
    public mutating func addChallenges(_ count: Int) {
        guard count > 0 else { return }
        authenticationFailures += count
        responses[STUNMethod.allocate.metricName, default: [:]]["401", default: 0] += count
    }

    /// Adds another core's counts (a server's figures are the sum over its cores).
    public mutating func add(_ other: TURNCounters) {
        allocationsCreated += other.allocationsCreated
        allocationsExpired += other.allocationsExpired
        authenticationFailures += other.authenticationFailures
        errorResponses += other.errorResponses
        retransmissionsAnswered += other.retransmissionsAnswered
        packetsToPeer += other.packetsToPeer
        packetsToClient += other.packetsToClient
        bytesToPeer += other.bytesToPeer
        bytesToClient += other.bytesToClient
        packetsDropped += other.packetsDropped
        packetsRateLimited += other.packetsRateLimited
        kernelPacketsToPeer += other.kernelPacketsToPeer
        kernelPacketsToClient += other.kernelPacketsToClient
        streamRoutedPacketsToPeer += other.streamRoutedPacketsToPeer
        peerConnectionsBound += other.peerConnectionsBound
        peerConnectionsAbandoned += other.peerConnectionsAbandoned
        for (method, results) in other.responses {
            for (result, count) in results { responses[method, default: [:]][result, default: 0] += count }
        }
    }
}

extension TURNServerCore {
    /// Whether a relay address still belongs to an allocation (the edge checks this when a bind completes late).
    public func relayAddressesOwned(_ relay: TransportAddress) -> Bool {
        relayOwners[relay] != nil
    }
}

extension STUNMethod {
    /// The method as a metric label: the TURN methods by name, anything else as `other`.
    var metricName: String {
        switch self {
        case .allocate: "allocate"
        case .refresh: "refresh"
        case .createPermission: "create-permission"
        case .channelBind: "channel-bind"
        case .connect: "connect"
        case .connectionBind: "connection-bind"
        default: "other"
        }
    }
}
