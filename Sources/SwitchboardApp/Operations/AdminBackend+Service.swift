import AdminEdge
import Foundation
import RelayEdge
import Signaling
import SignalingEdge
import STUN
import TURN
import Webhooks

extension AdminBackend {
    /// The admin API over a running server's parts.
    static func serving(relay: RelayServer, signaling: @escaping @Sendable () async -> SignalingHTTPServer?,
                        ledger: AllocationLedger, metrics: ServerMetrics, httpConnections: @escaping @Sendable () -> Int,
                        webhooks: WebhookDispatcher?, alternateServer: TransportAddress?) -> AdminBackend {
        AdminBackend(
            rooms: {
                await (signaling()?.roomReports() ?? []).map { room in
                    AdminRoom(room: room.room, peers: room.peers.map { AdminRoom.Peer(id: $0.session, user: $0.user) })
                }
            },
            allocations: {
                try await relay.allocationReports().map(AdminAllocation.init).sorted { $0.ageSeconds > $1.ageSeconds }
            },
            kick: { session in
                guard let server = await signaling(), await server.hasSession(session) else { return nil }
                // Allocations first, so the count is ours (the session-end event would close them too); its
                // credentials stop working as the session ends.
                let closed = try await relay.closeAllocations(session: session)
                guard await server.kick(session: session) else { return nil }
                return AdminKick(peer: session, closeCode: Int(SignalingCloseReason.kicked.code), allocationsClosed: closed)
            },
            revoke: { user in
                let server = await signaling()
                // Every credential handed out before now expires within the credential lifetime.
                let until = Int64(Date().timeIntervalSince1970) + Int64(server?.credentialTTL ?? 86_400)
                ledger.revoke(user: user, until: until)
                let sessions = await server?.revoke(user: user) ?? 0
                let closed = try await relay.closeAllocations(user: user)
                return AdminRevocation(user: user, sessionsEnded: sessions, allocationsClosed: closed, credentialsRefusedUntil: until)
            },
            drain: {
                ledger.isDraining = true
                await signaling()?.drain()
                return AdminDrain(draining: true, alternateServer: alternateServer?.description)
            },
            metrics: {
                let server = await signaling()
                let live = ServerMetrics.Live(
                    relay: try await relay.metrics(), sessions: await server?.sessionCount ?? 0,
                    rooms: await server?.roomCount ?? 0, pollSessions: await server?.pollIndexCount ?? 0,
                    httpConnections: httpConnections(), draining: ledger.isDraining,
                    frames: await server?.frameCounts ?? FrameCounts(), webhooks: webhooks?.statistics)
                return metrics.render(live)
            })
    }
}

extension AdminAllocation {
    init(_ report: AllocationReport) {
        let summary = report.summary
        self.init(user: QuotaUser.of(summary.username), username: summary.username,
                  session: QuotaUser.session(of: summary.username), transport: summary.fiveTuple.transport.label,
                  client: summary.fiveTuple.client.description, server: summary.fiveTuple.server.description,
                  relays: summary.relays.map(\.description), relayTransport: summary.relayProtocol.label,
                  ageSeconds: (report.ageSeconds * 10).rounded() / 10, expiresInSeconds: report.expiresInSeconds.rounded(),
                  permissions: report.permissions, channels: report.channels, bytesToPeer: report.traffic.bytesToPeer,
                  packetsToPeer: report.traffic.packetsToPeer, bytesToClient: report.traffic.bytesToClient,
                  packetsToClient: report.traffic.packetsToClient)
    }
}
