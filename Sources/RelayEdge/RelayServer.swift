import Logging
import NIOCore
import NIOPosix
import STUN
import TURN
import EdgeSupport
import KernelFastPath

/// The relay edge as the app sees it: one TURN core per datagram loop, and the STUN/TURN listeners in front.
///
/// Each core books relay ports from its own slice of the range, so cores never race for a port; a client's
/// 5-tuple always lands on the same core (SO_REUSEPORT hashing), so TURN state is touched from one thread only.
package final class RelayServer: Sendable {
    package let counters = STUNCounters()
    private let settings: RelayListenerSettings
    private let group: any EventLoopGroup
    private let logger: Logger
    private let shards: [TURNShard]
    private let listeners: STUNListeners
    /// The kernel fast path the cores install routes into, for its own counts.
    private let kernelFastPath: KernelFastPath?

    /// `turn` is the configuration of the whole relay; each core gets it with its own slice of `turn.relayPorts`.
    package init(settings: RelayListenerSettings, turn: TURNConfiguration, credentials: any CredentialStore,
                 policy: PeerAddressPolicy, ledger: AllocationLedger, nonceSecret: [UInt8], clock: any TURNClock,
                 group: any EventLoopGroup, events: @escaping @Sendable (TURNEvent) -> Void = { _ in },
                 kernelFastPath: KernelFastPath? = nil, logger: Logger) throws {
        self.settings = settings
        self.group = group
        self.logger = logger
        self.kernelFastPath = kernelFastPath
        let count = Self.coreCount(wanted: settings.turnThreads, relayPorts: turn.relayPorts)
        let shards = try (0..<count).map { index in
            var sliced = turn
            sliced.relayPorts = Self.portSlice(turn.relayPorts, index: index, of: count)
            // Each core owns its own slice of the fast path's counter slots, as of the relay ports.
            let routes = kernelFastPath.map { fastPath in
                ChannelRouteTable(fastPath, slots: UInt32(fastPath.capacity * index / count)..<UInt32(fastPath.capacity * (index + 1) / count))
            }
            sliced.kernelRoutes = routes != nil
            sliced.streamRoutes = true
            let loop = try DatagramLoop(name: "udp-loop-\(index)", wakeUpInterval: settings.turnWakeUpInterval)
            let core = TURNServerCore(configuration: sliced, credentials: credentials, policy: policy,
                                      clock: clock, nonceSecret: nonceSecret, ledger: ledger)
            return TURNShard(loop: loop, edge: TURNEdgeHandle(TURNEdge(loop: loop, core: core, group: group, events: events,
                                                                       kernelRoutes: routes, logger: logger)))
        }
        // Started only once all exist: a loop that failed to open must not leave the others' threads running.
        for shard in shards { shard.loop.start() }
        self.shards = shards
        listeners = STUNListeners(settings: settings, shards: shards, group: group, counters: counters,
                                  connections: ConnectionLimiter(maxTotal: settings.maxTCPConnections,
                                                                 maxPerAddress: settings.maxConnectionsPerIP))
    }

    /// How many TURN cores (datagram loops) serve clients.
    package var coreCount: Int { shards.count }

    /// What a STUN/TURN stream connection gets (nil before `start`): the one-port mux installs it on the
    /// connections it recognises as STUN.
    package var streamPipeline: STUNStreamPipeline? { get async { await listeners.streamPipeline } }

    /// Binds every listener and starts the cores' timers; on failure everything is closed again.
    package func start() async throws -> [BoundListener] {
        let bound: [BoundListener]
        do {
            bound = try await listeners.start()
        } catch {
            logger.error("cannot start STUN/TURN listeners", metadata: ["error": "\(error)"])
            await stopCores()
            throw error
        }
        for shard in shards {
            try await shard.edge.submit { $0.start() }
        }
        return bound
    }

    /// Closes the listeners, every allocation's relay socket and the loops.
    package func stop() async {
        await listeners.closeAll()
        await stopCores()
    }

    private func stopCores() async {
        for shard in shards {
            try? await shard.edge.submit { $0.stop() }
            await shard.loop.stop()
        }
    }

    /// Allocations on each core.
    package func allocationCounts() async throws -> [Int] {
        var counts: [Int] = []
        for shard in shards {
            counts.append(try await shard.edge.submit { $0.core.allocationCount })
        }
        return counts
    }

    /// Open relay sockets on every core.
    package func relaySocketCount() async throws -> Int {
        var total = 0
        for shard in shards {
            total += try await shard.edge.submit { $0.relayCount }
        }
        return total
    }

    /// Every core's active allocations (admin API).
    package func allocationReports() async throws -> [AllocationReport] {
        var reports: [AllocationReport] = []
        for shard in shards {
            reports += try await shard.edge.submit { $0.core.allocationReports() }
        }
        return reports
    }

    /// Ends the allocations of a user or a signaling session on every core; returns how many ended.
    package func closeAllocations(user: String? = nil, session: String? = nil) async throws -> Int {
        var total = 0
        for shard in shards {
            total += try await shard.edge.submit { $0.closeAllocations(user: user, session: session) }
        }
        return total
    }

    /// The relay's counters summed over its cores, read live (metrics).
    package func metrics() async throws -> RelayMetrics {
        var metrics = RelayMetrics()
        for shard in shards {
            let core = try await shard.edge.submit { edge in
                (edge.core.counters, edge.core.activeAllocationsByTransport(), edge.loop.droppedReads, edge.loop.droppedSends,
                 edge.droppedTCPFrames, edge.relayCount, edge.kernelRoutes?.count ?? 0, edge.kernelRoutes?.refused ?? 0)
            }
            metrics.turn.add(core.0)
            for (transport, count) in core.1 { metrics.activeAllocations[transport, default: 0] += count }
            metrics.droppedReads += core.2
            metrics.droppedSends += core.3
            metrics.droppedStreamFrames += core.4
            metrics.relaySockets += core.5
            metrics.kernelRoutes += core.6
            metrics.kernelRoutesRefused += core.7
            metrics.shedTasks += shard.loop.shedTaskCount
        }
        // The service closes the program only after the relay and the admin listener have stopped.
        metrics.kernelChecksumLeftToDevice = Int(clamping: kernelFastPath?.checksumLeftToDeviceCount() ?? 0)
        metrics.turn.addChallenges(counters.streamChallenges.load(ordering: .relaxed))
        metrics.stunResponses = counters.responses.load(ordering: .relaxed)
        metrics.stunDropped = counters.dropped.load(ordering: .relaxed)
        metrics.streamConnections = counters.tcpConnections.load(ordering: .relaxed)
        metrics.streamRefused = counters.tcpRefused.load(ordering: .relaxed)
        return metrics
    }

    /// Runs `body` with the first TURN core on its loop (diagnostics and tests).
    package func withFirstCore<T: Sendable>(_ body: @escaping @Sendable (TURNServerCore) -> T) async throws -> T {
        try await shards[0].edge.submit { body($0.core) }
    }

    /// `--turn-threads` loops, at most one per core, fewer when the relay range is too small to split.
    static func coreCount(wanted: Int, relayPorts: ClosedRange<UInt16>) -> Int {
        let rangeSize = Int(relayPorts.upperBound) - Int(relayPorts.lowerBound) + 1
        return max(1, min(max(1, wanted), System.coreCount, rangeSize / 256))
    }

    /// Core `index` of `count` books relay ports from its own contiguous slice.
    static func portSlice(_ range: ClosedRange<UInt16>, index: Int, of count: Int) -> ClosedRange<UInt16> {
        let lower = Int(range.lowerBound), size = Int(range.upperBound) - lower + 1
        let start = lower + size * index / count
        let end = lower + size * (index + 1) / count - 1
        return UInt16(start)...UInt16(end)
    }
}

/// A TURN core and its sockets, on one datagram loop.
struct TURNShard: Sendable {
    let loop: DatagramLoop
    let edge: TURNEdgeHandle
}

/// The relay's live counters, summed over its cores.
package struct RelayMetrics: Sendable {
    package var turn = TURNCounters()
    package var activeAllocations: [ClientTransport: Int] = [:]
    package var relaySockets = 0
    /// Channels installed in the kernel fast path, and those it had no room for.
    package var kernelRoutes = 0
    package var kernelRoutesRefused = 0
    /// Datagrams of installed routes that the fast path left to user space because their checksum was left to the
    /// device (sent from a container or a program on this host) and they would have left by another interface.
    package var kernelChecksumLeftToDevice = 0
    /// The data plane's losses: datagrams the kernel had queued when a read batch was full, sends the kernel refused,
    /// frames for stream clients that were not draining, and tasks shed from an overloaded loop.
    package var droppedReads = 0
    package var droppedSends = 0
    package var droppedStreamFrames = 0
    package var shedTasks = 0
    package var stunResponses = 0
    package var stunDropped = 0
    package var streamConnections = 0
    package var streamRefused = 0
}
