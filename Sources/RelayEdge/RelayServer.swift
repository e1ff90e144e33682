import Logging
import NIOCore
import NIOPosix
import STUN
import TURN
import EdgeSupport

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

    /// `turn` is the configuration of the whole relay; each core gets it with its own slice of `turn.relayPorts`.
    package init(settings: RelayListenerSettings, turn: TURNConfiguration, credentials: any CredentialStore,
                 policy: PeerAddressPolicy, ledger: AllocationLedger, nonceSecret: [UInt8], clock: any TURNClock,
                 group: any EventLoopGroup, events: @escaping @Sendable (TURNEvent) -> Void = { _ in },
                 logger: Logger) throws {
        self.settings = settings
        self.group = group
        self.logger = logger
        let count = Self.coreCount(wanted: settings.turnThreads, relayPorts: turn.relayPorts)
        let shards = try (0..<count).map { index in
            var sliced = turn
            sliced.relayPorts = Self.portSlice(turn.relayPorts, index: index, of: count)
            let loop = try DatagramLoop(name: "udp-loop-\(index)")
            let core = TURNServerCore(configuration: sliced, credentials: credentials, policy: policy,
                                      clock: clock, nonceSecret: nonceSecret, ledger: ledger)
            return TURNShard(loop: loop, edge: TURNEdgeHandle(TURNEdge(loop: loop, core: core, group: group, events: events, logger: logger)))
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
