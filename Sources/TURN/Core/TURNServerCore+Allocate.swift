import NIOCore
import STUN

extension TURNServerCore {
    /// RFC 8656 §7.2.
    func handleAllocate(_ request: STUNMessage, from fiveTuple: FiveTuple, now: Timestamp, into actions: inout [TURNAction]) {
        guard let auth = authenticate(request, on: fiveTuple, now: now, into: &actions) else { return }
        func fail(_ code: UInt16, _ reason: String? = nil) {
            reply(error: STUNErrorCode(code: code, reason: reason), to: request, on: fiveTuple, auth: auth, now: now, into: &actions)
        }

        // RFC 6062 §5.4: a bound data connection carries the peer's bytes, not STUN; an allocation keyed to it would
        // write its answers and Data indications into that stream.
        guard dataConnections[fiveTuple] == nil else { return fail(400, "A data connection cannot allocate") }
        if allocations[fiveTuple] == nil, let ledger, ledger.isDraining {
            if let alternate = configuration.alternateServer {
                return reply(error: .tryAlternate, to: request, on: fiveTuple, auth: auth,
                             extra: [.alternateServer(alternate)], now: now, into: &actions)
            }
            return fail(508, "Server draining")
        }
        if let existing = allocations[fiveTuple] {
            if existing.allocateTransactionID == request.transactionID {
                // A retransmission of the request that created it: same answer once it exists, silence until then.
                if let response = existing.allocateResponse { actions.append(.toClient(response, fiveTuple)) }
            } else {
                fail(437)
            }
            return
        }

        var requestedTransport: UInt8?
        var evenPort: Bool?
        var reservationToken: UInt64?
        var requestedFamily: AddressFamily?
        var additionalFamily: AddressFamily?
        var dontFragment = false
        var lifetime: UInt32?
        for attribute in request.attributes {
            switch attribute {
            case .requestedTransport(let value): if requestedTransport == nil { requestedTransport = value }
            case .evenPort(let reserveNext): evenPort = reserveNext
            case .reservationToken(let token): reservationToken = token
            case .requestedAddressFamily(let family): requestedFamily = family
            case .additionalAddressFamily(let family): additionalFamily = family
            case .dontFragment: dontFragment = true
            case .lifetime(let value): lifetime = value
            default: break
            }
        }
        guard let requestedTransport else { return fail(400, "REQUESTED-TRANSPORT is missing") }
        guard let relayProtocol = RelayProtocol(rawValue: requestedTransport) else { return fail(442) }
        if relayProtocol == .tcp {
            // RFC 6062 §5.1: a TCP relay is controlled over a TCP or TLS connection, and has no use for the
            // attributes that shape UDP sockets.
            guard fiveTuple.transport.isStream else { return fail(400, "TCP relays need a TCP or TLS connection") }
            if dontFragment || evenPort != nil || reservationToken != nil {
                return fail(400, "DONT-FRAGMENT, EVEN-PORT and RESERVATION-TOKEN are for UDP relays")
            }
        }
        if reservationToken != nil, evenPort != nil || requestedFamily != nil || additionalFamily != nil {
            return fail(400, "RESERVATION-TOKEN excludes EVEN-PORT and address family attributes")
        }
        if requestedFamily != nil, additionalFamily != nil {
            return fail(400, "REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY together")
        }
        if additionalFamily == .ipv4 { return fail(400, "ADDITIONAL-ADDRESS-FAMILY must be IPv6") }

        func refuseForQuota(_ code: UInt16, _ reason: String? = nil) {
            actions.append(.event(.quotaRefused(username: auth.username, code: code)))
            fail(code, reason)
        }
        // Quotas count the person, not the credential: a REST username (`EXPIRY:USER`) changes with every
        // credential a web app hands out, so it is counted under USER.
        let quotaUser = QuotaUser.of(auth.username)
        if let ledger {
            switch ledger.reserve(quotaUser) {
            case .granted: break
            case .userQuotaReached: return refuseForQuota(486)
            case .totalQuotaReached: return refuseForQuota(508, "Server allocation limit reached")
            }
        } else {
            if allocationsPerUser[quotaUser, default: 0] >= configuration.maxAllocationsPerUser { return refuseForQuota(486) }
            if allocations.count >= configuration.maxAllocations { return refuseForQuota(508, "Server allocation limit reached") }
        }
        // A refusal from here on gives the shared quota back.
        func refuse(_ code: UInt16, _ reason: String? = nil) {
            ledger?.release(quotaUser)
            fail(code, reason)
        }

        // Which relay addresses to open.
        var relays: [TransportAddress] = []
        var addressError: (AddressFamily, STUNErrorCode)?
        var token: UInt64?
        if let reservationToken {
            // With a ledger it is the one record: the token may come from a socket the kernel hashed to another
            // core than the one that booked it. Only a granted claim takes this core's own record (the port then
            // stays booked for this allocation); a refused one leaves it to expire, which frees the port. When
            // another core redeemed it, the booking core's pool keeps the port booked until that expiry; a clash
            // after it is a failed bind, which books another port.
            let claimed: TransportAddress?
            if let ledger {
                claimed = ledger.claimReservation(reservationToken, now: now)
                if claimed != nil { _ = ports.claim(token: reservationToken, now: now) }
            } else {
                claimed = ports.claim(token: reservationToken, now: now)
            }
            guard let reserved = claimed else {
                return refuse(508, "Unknown or expired RESERVATION-TOKEN")
            }
            relays = [reserved]
        } else {
            let primaryFamily = requestedFamily ?? .ipv4
            guard let primaryIP = relayIP(for: primaryFamily, fiveTuple: fiveTuple) else { return refuse(440) }
            guard let primary = ports.book(on: primaryIP, even: evenPort != nil, reserveNext: evenPort == true, now: now) else {
                return refuse(508, "No relay port free")
            }
            relays = [primary]
            if evenPort == true {
                let reserved = TransportAddress(ip: primaryIP, port: primary.port + 1)
                let expiry = now.adding(seconds: configuration.reservationLifetime)
                let booked = ports.reserve(reserved, until: expiry)
                ledger?.recordReservation(booked, address: reserved, until: expiry, now: now)
                token = booked
            }
            if additionalFamily == .ipv6 {
                if let ip = relayIP(for: .ipv6, fiveTuple: fiveTuple),
                   let second = ports.book(on: ip, even: false, reserveNext: false, now: now) {
                    relays.append(second)
                } else {
                    addressError = (.ipv6, .addressFamilyNotSupported)
                }
            }
        }

        let granted = grantedLifetime(lifetime)
        let allocation = Allocation(
            fiveTuple: fiveTuple, username: auth.username, auth: auth,
            state: .opening(remaining: relays.count, attempts: 0), relays: relays,
            advertised: relays.map(advertisedAddress), expiry: now.adding(seconds: granted), lifetime: granted,
            dontFragment: dontFragment, allocateTransactionID: request.transactionID, allocateCookie: request.cookie,
            reservationToken: token, addressError: addressError,
            toPeerBucket: TokenBucket(rate: configuration.maxBytesPerSecondPerAllocation, now: now),
            toClientBucket: TokenBucket(rate: configuration.maxBytesPerSecondPerAllocation, now: now),
            relayProtocol: relayProtocol, createdAt: now)
        // A redeemed reservation, or a port whose neighbour this allocation reserved (`token`), has no stand-in.
        allocation.portRule = reservationToken != nil || token != nil ? .reserved : evenPort != nil ? .even : .any
        allocations[fiveTuple] = allocation
        allocationsPerUser[quotaUser, default: 0] += 1
        for relay in relays {
            relayOwners[relay] = fiveTuple
            switch relayProtocol {
            case .udp: actions.append(.openRelay(relay, dontFragment: dontFragment))
            case .tcp: actions.append(.openTCPRelay(relay))
            }
        }
    }

    /// The edge bound a relay socket.
    public func relayOpened(_ relay: TransportAddress, into actions: inout [TURNAction]) {
        guard let fiveTuple = relayOwners[relay], let allocation = allocations[fiveTuple],
              case .opening(let remaining, let attempts) = allocation.state else { return }
        if remaining > 1 {
            allocation.state = .opening(remaining: remaining - 1, attempts: attempts)
            return
        }
        allocation.state = .active
        let now = clock.now()
        var response = STUNMessage(
            type: STUNMessageType(method: .allocate, messageClass: .successResponse),
            transactionID: allocation.allocateTransactionID, cookie: allocation.allocateCookie)
        for address in allocation.advertised { response.append(.xorRelayedAddress(address)) }
        if let (family, error) = allocation.addressError { response.append(.addressErrorCode(family: family, error: error)) }
        response.append(.lifetime(allocation.lifetime))
        if let token = allocation.reservationToken { response.append(.reservationToken(token)) }
        response.append(.xorMappedAddress(fiveTuple.client))
        var out = ByteBufferAllocator().buffer(capacity: 160)
        write(response, auth: allocation.auth, into: &out)
        allocation.allocateResponse = out
        responses.store(out, for: fiveTuple, allocation.allocateTransactionID, now: now)
        counters.allocationsCreated += 1
        actions.append(.toClient(out, fiveTuple))
        actions.append(.event(.allocationCreated(allocation.summary)))
    }

    /// The edge could not bind a relay socket (the port is held by someone else): try another port a few times,
    /// then answer 508.
    public func relayFailed(_ relay: TransportAddress, into actions: inout [TURNAction]) {
        guard let fiveTuple = relayOwners.removeValue(forKey: relay), let allocation = allocations[fiveTuple],
              case .opening(let remaining, let attempts) = allocation.state,
              let index = allocation.relays.firstIndex(of: relay) else { return }
        let now = clock.now()
        ports.markUnusable(relay, now: now)
        // The first relay keeps to what the Allocate asked: a reserved port has no stand-in, and EVEN-PORT's stand-in
        // is even too.
        let rule: RelayPortRule = index == 0 ? allocation.portRule : .any
        if attempts < 8, rule != .reserved, let replacement = ports.book(on: relay.ip, even: rule == .even, reserveNext: false, now: now) {
            allocation.relays[index] = replacement
            allocation.advertised[index] = advertisedAddress(replacement)
            allocation.state = .opening(remaining: remaining, attempts: attempts + 1)
            relayOwners[replacement] = fiveTuple
            switch allocation.relayProtocol {
            case .udp: actions.append(.openRelay(replacement, dontFragment: allocation.dontFragment))
            case .tcp: actions.append(.openTCPRelay(replacement))
            }
            return
        }
        let request = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                  transactionID: allocation.allocateTransactionID, cookie: allocation.allocateCookie)
        allocation.relays.remove(at: index)
        deleteAllocation(fiveTuple, reason: .deleted, into: &actions)
        reply(error: STUNErrorCode(code: 508, reason: "Cannot open a relay socket"), to: request, on: fiveTuple,
              auth: allocation.auth, now: now, into: &actions)
    }

    func grantedLifetime(_ requested: UInt32?) -> UInt32 {
        guard let requested else { return configuration.defaultLifetime }
        return min(max(requested, configuration.defaultLifetime), configuration.maximumLifetime)
    }

    func relayIP(for family: AddressFamily, fiveTuple: FiveTuple) -> IPAddress? {
        switch family {
        case .ipv4:
            if let ip = configuration.relayIPv4 { return ip }
        case .ipv6:
            if let ip = configuration.relayIPv6 { return ip }
        }
        let reached = fiveTuple.server.ip
        return reached.family == family && !reached.isUnspecified ? reached : nil
    }

    func advertisedAddress(_ relay: TransportAddress) -> TransportAddress {
        let external = relay.ip.family == .ipv4 ? configuration.externalIPv4 : configuration.externalIPv6
        return TransportAddress(ip: external ?? relay.ip, port: relay.port)
    }
}
