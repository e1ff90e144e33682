import CKernelFastPath
import STUN
import TURN

/// One TURN edge's routes in the kernel fast path: which it installed, in which counter slot, and how much of each
/// slot's counts it has already reported to its core. Confined to the edge's loop; the edges of one server share
/// the maps and each owns its own range of counter slots.
public final class ChannelRouteTable {
    private struct Entry {
        var route: sb_channel_route
        var reported: sb_route_counters
    }

    private let maps: KernelFastPathMaps
    private var freeSlots: [UInt32]
    private var installed: [ChannelRoute.Key: Entry] = [:]
    private let localAddresses: Set<UInt32>
    /// Routes that could not be installed (the table was full, or the kernel refused): they stay in user space.
    public private(set) var refused = 0

    public init(_ fastPath: KernelFastPath, slots: Range<UInt32>) {
        maps = fastPath.maps
        freeSlots = Array(slots.reversed())
        localAddresses = NetworkInterfaces.localAddresses()
    }

    public var count: Int { installed.count }

    /// Installs the route, or moves the expiry of the installed one (keeping its counters).
    public func install(_ route: ChannelRoute) {
        guard case .v4(let client) = route.fiveTuple.client.ip, case .v4(let server) = route.fiveTuple.server.ip,
              case .v4(let relay) = route.relay.ip, case .v4(let peer) = route.peer.ip else { return }
        if var entry = installed[route.key] {
            entry.route.expires_ns = route.expiry.nanoseconds
            entry.route.dont_fragment = route.dontFragment ? 1 : 0
            if sb_route_install(maps.raw, &entry.route) == 0 { installed[route.key] = entry }
            return
        }
        guard let slot = freeSlots.popLast() else {
            refused += 1
            return
        }
        var raw = sb_channel_route()
        raw.client_ip = client.bigEndian
        raw.server_ip = server.bigEndian
        raw.relay_ip = relay.bigEndian
        raw.peer_ip = peer.bigEndian
        raw.client_port = route.fiveTuple.client.port.bigEndian
        raw.server_port = route.fiveTuple.server.port.bigEndian
        raw.relay_port = route.relay.port.bigEndian
        raw.peer_port = route.peer.port.bigEndian
        raw.channel = route.channel.bigEndian
        raw.dont_fragment = route.dontFragment ? 1 : 0
        raw.local_destinations = UInt8((isLocal(peer) ? SB_PEER_IS_LOCAL : 0) | (isLocal(client) ? SB_CLIENT_IS_LOCAL : 0))
        raw.counter_slot = slot
        raw.expires_ns = route.expiry.nanoseconds
        guard sb_route_counters_clear(maps.raw, slot) == 0, sb_route_install(maps.raw, &raw) == 0 else {
            freeSlots.append(slot)
            refused += 1
            return
        }
        installed[route.key] = Entry(route: raw, reported: sb_route_counters())
    }

    /// Removes the route; returns what it forwarded since the last report (nothing when it was not installed).
    public func remove(_ key: ChannelRoute.Key) -> KernelRouteCounts {
        guard var entry = installed.removeValue(forKey: key) else { return KernelRouteCounts() }
        sb_route_remove(maps.raw, &entry.route)
        let counts = unreported(&entry)
        freeSlots.append(entry.route.counter_slot)
        return counts
    }

    /// What each installed route forwarded since the last report, for routes that forwarded anything.
    public func collect(_ report: (ChannelRoute.Key, KernelRouteCounts) -> Void) {
        for key in Array(installed.keys) {
            guard var entry = installed[key] else { continue }
            let counts = unreported(&entry)
            guard !counts.isZero else { continue }
            installed[key] = entry
            report(key, counts)
        }
    }

    /// Removes every route (the edge is stopping).
    public func removeAll() {
        for key in Array(installed.keys) { _ = remove(key) }
    }

    private func unreported(_ entry: inout Entry) -> KernelRouteCounts {
        var now = sb_route_counters()
        guard sb_route_counters_read(maps.raw, entry.route.counter_slot, &now) == 0 else { return KernelRouteCounts() }
        let before = entry.reported
        entry.reported = now
        return KernelRouteCounts(
            bytesToPeer: Int(truncatingIfNeeded: now.bytes_to_peer &- before.bytes_to_peer),
            packetsToPeer: Int(truncatingIfNeeded: now.packets_to_peer &- before.packets_to_peer),
            bytesToClient: Int(truncatingIfNeeded: now.bytes_to_client &- before.bytes_to_client),
            packetsToClient: Int(truncatingIfNeeded: now.packets_to_client &- before.packets_to_client))
    }

    private func isLocal(_ ip: UInt32) -> Bool {
        ip >> 24 == 127 || localAddresses.contains(ip)
    }
}
