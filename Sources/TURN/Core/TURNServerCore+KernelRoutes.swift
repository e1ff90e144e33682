import STUN

/// The fast paths, seen from the core: which channels they may forward, and what they forwarded. Two edges take
/// routes: the kernel fast path, for UDP clients (`kernelRoutes`), and the threads of TCP and TLS clients, which send
/// a routed channel's ChannelData to the peer without a hop through the core's loop (`streamRoutes`). A route's
/// five-tuple says which one it is for.
///
/// The core stays the one authority. It tells the edge to route a channel when ChannelBind or CreatePermission
/// grants one (and again when either is refreshed, with the new expiry) and to unroute it when the channel expires
/// or the allocation ends. The edge answers every `unrouteChannel` with `kernelRouteRemoved` and what was forwarded
/// since its last report; an allocation that ends with routes out reports `allocation.closed` only once all have
/// answered, so its byte counts include the kernel's.
extension TURNServerCore {
    var kernelRoutesEnabled: Bool {
        configuration.kernelRoutes && configuration.maxBytesPerSecondPerAllocation == 0
    }

    /// The relay a channel to `peer` of this client's allocation is routed from; nil when no fast path takes it
    /// (a bandwidth limit is counted per packet here, so it keeps every packet in the core).
    private func routedRelay(of allocation: Allocation, client: FiveTuple, peer: TransportAddress) -> TransportAddress? {
        guard configuration.maxBytesPerSecondPerAllocation == 0, allocation.relayProtocol == .udp else { return nil }
        if client.transport == .udp {
            // The kernel program speaks IPv4 only.
            guard configuration.kernelRoutes, client.client.ip.family == .ipv4, peer.ip.family == .ipv4 else { return nil }
            return allocation.relay(for: .ipv4)
        }
        guard configuration.streamRoutes else { return nil }
        return allocation.relay(for: peer.ip.family)
    }

    /// Routes the allocation's channels (those to `peerIP` only, when given) with their current expiry.
    func routeChannels(of fiveTuple: FiveTuple, peerIP: IPAddress? = nil, into actions: inout [TURNAction]) {
        guard configuration.kernelRoutes || configuration.streamRoutes,
              let allocation = allocations[fiveTuple], case .active = allocation.state else { return }
        for (number, binding) in allocation.channels where peerIP == nil || binding.peer.ip == peerIP {
            guard let relay = routedRelay(of: allocation, client: fiveTuple, peer: binding.peer),
                  policy.permits(binding.peer.ip), let permission = allocation.permissions[binding.peer.ip] else { continue }
            actions.append(.routeChannel(ChannelRoute(
                fiveTuple: fiveTuple, channel: number, relay: relay, peer: binding.peer,
                expiry: min(binding.expiry, permission), dontFragment: allocation.dontFragment)))
        }
    }

    func unrouteChannel(_ number: UInt16, peer: TransportAddress, of allocation: Allocation, into actions: inout [TURNAction]) {
        guard configuration.kernelRoutes || configuration.streamRoutes,
              let relay = routedRelay(of: allocation, client: allocation.fiveTuple, peer: peer) else { return }
        actions.append(.unrouteChannel(ChannelRoute(
            fiveTuple: allocation.fiveTuple, channel: number, relay: relay, peer: peer,
            expiry: Timestamp(nanoseconds: 0), dontFragment: allocation.dontFragment)))
    }

    /// What the fast path forwarded on a route that is still installed (the edge reports it about once a second).
    public func kernelForwarded(_ route: ChannelRoute.Key, _ counts: KernelRouteCounts) {
        count(counts, inKernel: route.fiveTuple.transport == .udp)
        // While an ended allocation still settles, a late report on its 5-tuple is its own, even when the client
        // has made a new allocation there already.
        if let closing = closingAllocations[route.fiveTuple], closing.routedChannels.contains(route.channel) {
            closing.traffic.add(counts)
        } else {
            allocations[route.fiveTuple]?.traffic.add(counts)
        }
    }

    /// The edge removed a route (or never had it): `counts` is what it forwarded since the last report.
    public func kernelRouteRemoved(_ route: ChannelRoute.Key, _ counts: KernelRouteCounts, into actions: inout [TURNAction]) {
        count(counts, inKernel: route.fiveTuple.transport == .udp)
        if closingAllocations[route.fiveTuple] != nil {
            settleClosing(route.fiveTuple, counts, into: &actions)
        } else {
            allocations[route.fiveTuple]?.traffic.add(counts)
        }
    }

    /// One of an ended allocation's outstanding reports is in: its traffic counts, and the last one sends
    /// `allocation.closed`.
    func settleClosing(_ fiveTuple: FiveTuple, _ counts: KernelRouteCounts, into actions: inout [TURNAction]) {
        guard var closing = closingAllocations[fiveTuple] else { return }
        closing.traffic.add(counts)
        closing.routesOut -= 1
        if closing.routesOut > 0 {
            closingAllocations[fiveTuple] = closing
        } else {
            closingAllocations[fiveTuple] = nil
            for relay in closing.heldPorts { ports.release(relay) }
            actions.append(.event(.allocationClosed(closing.summary, reason: closing.reason, traffic: closing.traffic.snapshot)))
        }
    }

    private func count(_ counts: KernelRouteCounts, inKernel: Bool) {
        guard !counts.isZero else { return }
        counters.packetsToPeer += counts.packetsToPeer
        counters.bytesToPeer += counts.bytesToPeer
        counters.packetsToClient += counts.packetsToClient
        counters.bytesToClient += counts.bytesToClient
        guard inKernel else {
            counters.streamRoutedPacketsToPeer += counts.packetsToPeer
            return
        }
        counters.kernelPacketsToPeer += counts.packetsToPeer
        counters.kernelPacketsToClient += counts.packetsToClient
    }
}

/// An allocation that has ended while the fast path still had routes of it, or while its TCP relay's last traffic
/// report was still to come: its `allocation.closed` waits for them.
struct ClosingAllocation {
    let summary: AllocationSummary
    let reason: AllocationEndReason
    let traffic: AllocationTraffic
    var routesOut: Int
    /// Relay ports booked until the last report: a client's thread may still hold a descriptor of the socket, so
    /// the port is not free to bind before then.
    var heldPorts: [TransportAddress] = []
    /// The channels whose routes were out when it ended: a late report on one of them is this allocation's.
    var routedChannels: Set<UInt16> = []
}
