import STUN

/// What the operator sees of one allocation (admin API).
public struct AllocationReport: Sendable, Equatable {
    public var summary: AllocationSummary
    public var ageSeconds: Double
    public var expiresInSeconds: Double
    public var permissions: Int
    public var channels: Int
    public var peerConnections: Int
    public var traffic: AllocationTraffic.Snapshot
}

/// The operator's view and hand: listing allocations, and ending those of a user or a signaling session.
extension TURNServerCore {
    public func allocationReports() -> [AllocationReport] {
        let now = clock.now()
        return allocations.values.compactMap { allocation in
            guard case .active = allocation.state else { return nil }
            return AllocationReport(
                summary: allocation.summary,
                ageSeconds: Double(now.nanoseconds &- allocation.createdAt.nanoseconds) / 1e9,
                expiresInSeconds: allocation.expiry > now ? Double(allocation.expiry.nanoseconds - now.nanoseconds) / 1e9 : 0,
                permissions: allocation.permissions.count, channels: allocation.channels.count,
                peerConnections: allocation.peerConnections.count, traffic: allocation.traffic.snapshot)
        }
    }

    /// Active allocations by client transport, for the metrics gauge.
    public func activeAllocationsByTransport() -> [ClientTransport: Int] {
        var counts: [ClientTransport: Int] = [:]
        for allocation in allocations.values {
            if case .active = allocation.state { counts[allocation.fiveTuple.transport, default: 0] += 1 }
        }
        return counts
    }

    /// Ends every allocation whose REST username names `user` (or, with `session`, that signaling session): their
    /// relays close at once and the clients hear nothing until their next request gets 437. Returns how many.
    @discardableResult
    public func closeAllocations(user: String? = nil, session: String? = nil, into actions: inout [TURNAction]) -> Int {
        let matching = allocations.compactMap { fiveTuple, allocation -> FiveTuple? in
            if let user, QuotaUser.of(allocation.username) != user { return nil }
            if let session, QuotaUser.session(of: allocation.username) != session { return nil }
            return user == nil && session == nil ? nil : fiveTuple
        }
        for fiveTuple in matching { deleteAllocation(fiveTuple, reason: .revoked, into: &actions) }
        return matching.count
    }
}
