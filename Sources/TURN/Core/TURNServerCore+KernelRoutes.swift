import STUN

/// The kernel fast path, seen from the core: which channels it may forward, and what it forwarded.
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

    /// Routes the allocation's channels (those to `peerIP` only, when given) with their current expiry.
    func routeChannels(of fiveTuple: FiveTuple, peerIP: IPAddress? = nil, into actions: inout [TURNAction]) {
        guard kernelRoutesEnabled, fiveTuple.transport == .udp, fiveTuple.client.ip.family == .ipv4,
              let allocation = allocations[fiveTuple], case .active = allocation.state, allocation.relayProtocol == .udp,
              let relay = allocation.relay(for: .ipv4) else { return }
        for (number, binding) in allocation.channels where peerIP == nil || binding.peer.ip == peerIP {
            guard binding.peer.ip.family == .ipv4, policy.permits(binding.peer.ip),
                  let permission = allocation.permissions[binding.peer.ip] else { continue }
            actions.append(.routeChannel(ChannelRoute(
                fiveTuple: fiveTuple, channel: number, relay: relay, peer: binding.peer,
                expiry: min(binding.expiry, permission), dontFragment: allocation.dontFragment)))
        }
    }

    func unrouteChannel(_ number: UInt16, peer: TransportAddress, of allocation: Allocation, into actions: inout [TURNAction]) {
        guard kernelRoutesEnabled, allocation.fiveTuple.transport == .udp, let relay = allocation.relay(for: .ipv4),
              peer.ip.family == .ipv4 else { return }
        actions.append(.unrouteChannel(ChannelRoute(
            fiveTuple: allocation.fiveTuple, channel: number, relay: relay, peer: peer,
            expiry: Timestamp(nanoseconds: 0), dontFragment: allocation.dontFragment)))
    }

    /// What the fast path forwarded on a route that is still installed (the edge reports it about once a second).
    public func kernelForwarded(_ route: ChannelRoute.Key, _ counts: KernelRouteCounts) {
        count(counts)
        allocations[route.fiveTuple]?.traffic.add(counts)
        closingAllocations[route.fiveTuple]?.traffic.add(counts)
    }

    /// The edge removed a route (or never had it): `counts` is what it forwarded since the last report.
    public func kernelRouteRemoved(_ route: ChannelRoute.Key, _ counts: KernelRouteCounts, into actions: inout [TURNAction]) {
        count(counts)
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
            actions.append(.event(.allocationClosed(closing.summary, reason: closing.reason, traffic: closing.traffic.snapshot)))
        }
    }

    private func count(_ counts: KernelRouteCounts) {
        guard !counts.isZero else { return }
        counters.packetsToPeer += counts.packetsToPeer
        counters.bytesToPeer += counts.bytesToPeer
        counters.packetsToClient += counts.packetsToClient
        counters.bytesToClient += counts.bytesToClient
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
}
