import STUN

/// RFC 6062 traffic: a TCP allocation's data connections carry bytes at the edge, spliced to their peer connections
/// without passing through the core, so the edge counts them and reports here. A "packet" of a TCP relay is one
/// read the server forwarded.
extension TURNServerCore {
    /// What the data connections of TCP relay `relay` carried since the last report (the edge reports about once a
    /// second).
    public func streamRelayed(_ relay: TransportAddress, _ counts: AllocationTraffic.Snapshot) {
        guard !counts.isZero else { return }
        countStream(counts)
        if let owner = relayOwners[relay] { allocations[owner]?.traffic.add(counts) }
    }

    /// The edge closed TCP relay `relay` on `.closeRelay`: `counts` is what its data connections carried since the
    /// last report. An ended allocation's `allocation.closed` waits for this.
    public func streamRelayClosed(_ relay: TransportAddress, _ counts: AllocationTraffic.Snapshot,
                                  into actions: inout [TURNAction]) {
        countStream(counts)
        guard let owner = closingStreamRelays.removeValue(forKey: relay) else { return }
        settleClosing(owner, counts, into: &actions)
    }

    private func countStream(_ counts: AllocationTraffic.Snapshot) {
        counters.packetsToPeer += counts.packetsToPeer
        counters.bytesToPeer += counts.bytesToPeer
        counters.packetsToClient += counts.packetsToClient
        counters.bytesToClient += counts.bytesToClient
    }
}
