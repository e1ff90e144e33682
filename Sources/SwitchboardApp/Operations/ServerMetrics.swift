import Foundation
import NIOConcurrencyHelpers
import Prometheus
import RelayEdge
import Signaling
import STUN
import TURN
import Webhooks

/// The Prometheus metrics of one server (docs/admin-api.md#metrics), in swift-prometheus's registry.
///
/// Two sources, and no third: lifecycle events (allocations, permissions, channels, refusals, sessions) counted as
/// they arrive, and the live counters the relay and the hub keep anyway (packets, bytes, drops, gauges), read when
/// Prometheus scrapes. So the packet path gains nothing, and nothing is labelled by user or session: every label
/// has a handful of values.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Counters fed at scrape time from totals the relay keeps: advanced by the difference since the last scrape.
    private let scraped = NIOLockedValueBox<[String: (counter: Counter, last: Int64)]>([:])
    /// Event counters, made once each: the registry's `makeCounter` checks the name and every label again on each
    /// call, and events arrive on the TURN loops at the rate of allocations.
    private let eventCounters = NIOLockedValueBox<[EventCounterKey: Counter]>([:])

    private struct EventCounterKey: Hashable {
        var name: String
        var labels: [String: String]
    }

    public init() {}

    // MARK: Events

    public func consume(_ event: LifecycleEvent, at date: Date) {
        switch event {
        case .turn(.allocationCreated(let summary)):
            count("switchboard_turn_allocations_created_total", ["transport": summary.fiveTuple.transport.label,
                                                                 "relay": summary.relayProtocol.label])
        case .turn(.allocationClosed(let summary, let reason, _)):
            count("switchboard_turn_allocations_closed_total", ["transport": summary.fiveTuple.transport.label,
                                                                "reason": reason.rawValue])
        case .turn(.allocationRefreshed):
            count("switchboard_turn_allocation_refreshes_total", [:])
        case .turn(.permissionCreated):
            count("switchboard_turn_permissions_created_total", [:])
        case .turn(.channelBound):
            count("switchboard_turn_channels_bound_total", [:])
        case .turn(.quotaRefused(_, let code)):
            count("switchboard_turn_quota_refusals_total", ["code": String(code)])
        case .turn(.peerDenied):
            count("switchboard_turn_peers_denied_total", [:])
        case .signaling(.sessionStarted):
            count("switchboard_signaling_sessions_started_total", [:])
        case .signaling(.sessionResumed):
            count("switchboard_signaling_resumes_total", [:])
        case .signaling(.sessionEnded(_, _, let reason, _)):
            count("switchboard_signaling_sessions_ended_total", ["reason": reason])
        case .signaling(.roomStarted):
            count("switchboard_signaling_rooms_started_total", [:])
        case .signaling(.peerJoined):
            count("switchboard_signaling_joins_total", [:])
        case .signaling(.roomFinished), .signaling(.peerLeft):
            break
        }
    }

    private func count(_ name: String, _ labels: [String: String]) {
        let key = EventCounterKey(name: name, labels: labels)
        let counter = eventCounters.withLockedValue { counters in
            if let known = counters[key] { return known }
            let made = registry.makeCounter(name: name, labels: labels.sorted { $0.key < $1.key })
            counters[key] = made
            return made
        }
        counter.increment()
    }

    // MARK: Scrape

    /// What the scrape reads besides the event counts.
    public struct Live: Sendable {
        var relay: RelayMetrics
        var sessions: Int
        var rooms: Int
        var pollSessions: Int
        var httpConnections: Int
        var draining: Bool
        var frames: FrameCounts
        var webhooks: WebhookStatistics?
    }

    /// The text exposition, after bringing the live figures up to date.
    func render(_ live: Live) -> String {
        let turn = live.relay.turn
        advance("switchboard_stun_binding_responses_total", [:], live.relay.stunResponses)
        advance("switchboard_stun_dropped_total", [:], live.relay.stunDropped)
        advance("switchboard_turn_relayed_packets_total", ["direction": "to-peer"], turn.packetsToPeer)
        advance("switchboard_turn_relayed_packets_total", ["direction": "to-client"], turn.packetsToClient)
        // Of those, what the kernel fast path forwarded (--kernel-fastpath).
        advance("switchboard_turn_kernel_relayed_packets_total", ["direction": "to-peer"], turn.kernelPacketsToPeer)
        advance("switchboard_turn_kernel_relayed_packets_total", ["direction": "to-client"], turn.kernelPacketsToClient)
        advance("switchboard_turn_kernel_routes_refused_total", [:], live.relay.kernelRoutesRefused)
        advance("switchboard_turn_kernel_checksum_offloaded_total", [:], live.relay.kernelChecksumLeftToDevice)
        // And what TCP and TLS clients' threads sent to peers on routed channels.
        advance("switchboard_turn_stream_routed_packets_total", ["direction": "to-peer"], turn.streamRoutedPacketsToPeer)
        advance("switchboard_turn_relayed_bytes_total", ["direction": "to-peer"], turn.bytesToPeer)
        advance("switchboard_turn_relayed_bytes_total", ["direction": "to-client"], turn.bytesToClient)
        advance("switchboard_turn_packets_dropped_total", ["why": "no-permission-or-malformed"], turn.packetsDropped)
        advance("switchboard_turn_packets_dropped_total", ["why": "rate-limit"], turn.packetsRateLimited)
        advance("switchboard_turn_auth_failures_total", [:], turn.authenticationFailures)
        advance("switchboard_turn_error_responses_total", [:], turn.errorResponses)
        advance("switchboard_turn_retransmissions_answered_total", [:], turn.retransmissionsAnswered)
        advance("switchboard_turn_tcp_peer_connections_bound_total", [:], turn.peerConnectionsBound)
        for (method, results) in turn.responses {
            for (result, count) in results {
                advance("switchboard_turn_responses_total", ["method": method, "result": result], count)
            }
        }
        advance("switchboard_dataplane_dropped_reads_total", [:], live.relay.droppedReads)
        advance("switchboard_dataplane_dropped_sends_total", [:], live.relay.droppedSends)
        advance("switchboard_dataplane_dropped_stream_frames_total", [:], live.relay.droppedStreamFrames)
        advance("switchboard_dataplane_shed_tasks_total", [:], live.relay.shedTasks)
        advance("switchboard_stun_stream_connections_refused_total", [:], live.relay.streamRefused)
        for transport in [ClientTransport.udp, .tcp, .tls] {
            gauge("switchboard_turn_allocations", ["transport": transport.label], live.relay.activeAllocations[transport] ?? 0)
        }
        gauge("switchboard_turn_relay_sockets", [:], live.relay.relaySockets)
        gauge("switchboard_turn_kernel_routes", [:], live.relay.kernelRoutes)
        gauge("switchboard_stun_stream_connections", [:], live.relay.streamConnections)
        gauge("switchboard_signaling_sessions", [:], live.sessions)
        gauge("switchboard_signaling_rooms", [:], live.rooms)
        gauge("switchboard_signaling_long_poll_sessions", [:], live.pollSessions)
        gauge("switchboard_http_connections", [:], live.httpConnections)
        gauge("switchboard_draining", [:], live.draining ? 1 : 0)
        for (index, type) in FrameCounts.inboundTypes.enumerated() {
            advance("switchboard_signaling_frames_in_total", ["type": type], live.frames.inbound[index])
        }
        for (index, type) in FrameCounts.outboundTypes.enumerated() {
            advance("switchboard_signaling_frames_out_total", ["type": type], live.frames.outbound[index])
        }
        if let webhooks = live.webhooks {
            // Totals over the configured URLs; a URL is configuration, but a label per URL would still grow with
            // every one an operator ever tried.
            advance("switchboard_webhook_deliveries_total", ["outcome": "delivered"], webhooks.delivered)
            advance("switchboard_webhook_deliveries_total", ["outcome": "rejected"], webhooks.rejected)
            advance("switchboard_webhook_deliveries_total", ["outcome": "failed"], webhooks.failed)
            advance("switchboard_webhook_events_dropped_total", [:], webhooks.dropped)
            gauge("switchboard_webhook_queue_depth", [:], webhooks.queueDepth)
            registry.makeGauge(name: "switchboard_webhook_oldest_undelivered_age_seconds", labels: [])
                .set(webhooks.oldestUndeliveredAge ?? 0)
        }
        let process = ProcessFigures.read()
        gauge("process_resident_memory_bytes", [:], process.residentBytes)
        gauge("process_open_fds", [:], process.openFiles)
        registry.makeGauge(name: "process_cpu_seconds_total", labels: []).set(process.cpuSeconds)
        return registry.emitToString()
    }

    private func advance(_ name: String, _ labels: [String: String], _ total: Int) {
        let key = name + labels.sorted { $0.key < $1.key }.map { "|\($0.key)=\($0.value)" }.joined()
        scraped.withLockedValue { scraped in
            let entry = scraped[key] ?? (registry.makeCounter(name: name, labels: labels.sorted { $0.key < $1.key }), 0)
            let total = Int64(total)
            if total > entry.last { entry.counter.increment(by: total - entry.last) }
            scraped[key] = (entry.counter, max(total, entry.last))
        }
    }

    private func gauge(_ name: String, _ labels: [String: String], _ value: Int) {
        registry.makeGauge(name: name, labels: labels.sorted { $0.key < $1.key }).set(Int64(value))
    }
}

extension ClientTransport {
    var label: String {
        switch self {
        case .udp: "udp"
        case .tcp: "tcp"
        case .tls: "tls"
        case .dtls: "dtls"
        }
    }
}

extension RelayProtocol {
    var label: String { self == .tcp ? "tcp" : "udp" }
}

/// The process's own figures from /proc (Linux).
struct ProcessFigures {
    var residentBytes = 0
    var cpuSeconds = 0.0
    var openFiles = 0

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Int(fields[1]) { figures.residentBytes = pages * page }
        }
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are the 14th and 15th of the whole line.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) {
                figures.cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        figures.openFiles = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return figures
    }
}
