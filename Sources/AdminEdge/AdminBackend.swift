/// What the admin API reads and does, supplied by the app: the edge knows HTTP, tokens and JSON, not the cores.
public struct AdminBackend: Sendable {
    public var rooms: @Sendable () async -> [AdminRoom]
    public var allocations: @Sendable () async throws -> [AdminAllocation]
    /// Ends a signaling session and its allocations; nil when there is no such session.
    public var kick: @Sendable (_ session: String) async throws -> AdminKick?
    /// Ends a user's sessions and allocations and refuses their TURN credentials until they expire.
    public var revoke: @Sendable (_ user: String) async throws -> AdminRevocation
    public var drain: @Sendable () async -> AdminDrain
    /// The Prometheus text exposition of every metric.
    public var metrics: @Sendable () async throws -> String

    public init(rooms: @escaping @Sendable () async -> [AdminRoom],
                allocations: @escaping @Sendable () async throws -> [AdminAllocation],
                kick: @escaping @Sendable (String) async throws -> AdminKick?,
                revoke: @escaping @Sendable (String) async throws -> AdminRevocation,
                drain: @escaping @Sendable () async -> AdminDrain,
                metrics: @escaping @Sendable () async throws -> String) {
        self.rooms = rooms
        self.allocations = allocations
        self.kick = kick
        self.revoke = revoke
        self.drain = drain
        self.metrics = metrics
    }
}

public struct AdminRoom: Codable, Sendable, Equatable {
    public struct Peer: Codable, Sendable, Equatable {
        public var id: String
        public var user: String
        public init(id: String, user: String) {
            self.id = id
            self.user = user
        }
    }

    public var room: String
    public var peers: [Peer]

    public init(room: String, peers: [Peer]) {
        self.room = room
        self.peers = peers
    }
}

public struct AdminAllocation: Codable, Sendable, Equatable {
    /// The person (`USER` of a REST username), the credential's full username, and the session it is bound to.
    public var user: String
    public var username: String
    public var session: String?
    public var transport: String
    public var client: String
    public var server: String
    public var relays: [String]
    public var relayTransport: String
    public var ageSeconds: Double
    public var expiresInSeconds: Double
    public var permissions: Int
    public var channels: Int
    public var bytesToPeer: Int
    public var packetsToPeer: Int
    public var bytesToClient: Int
    public var packetsToClient: Int

    public init(user: String, username: String, session: String?, transport: String, client: String, server: String,
                relays: [String], relayTransport: String, ageSeconds: Double, expiresInSeconds: Double, permissions: Int,
                channels: Int, bytesToPeer: Int, packetsToPeer: Int, bytesToClient: Int, packetsToClient: Int) {
        self.user = user
        self.username = username
        self.session = session
        self.transport = transport
        self.client = client
        self.server = server
        self.relays = relays
        self.relayTransport = relayTransport
        self.ageSeconds = ageSeconds
        self.expiresInSeconds = expiresInSeconds
        self.permissions = permissions
        self.channels = channels
        self.bytesToPeer = bytesToPeer
        self.packetsToPeer = packetsToPeer
        self.bytesToClient = bytesToClient
        self.packetsToClient = packetsToClient
    }
}

public struct AdminKick: Codable, Sendable, Equatable {
    public var peer: String
    public var closeCode: Int
    public var allocationsClosed: Int
    public init(peer: String, closeCode: Int, allocationsClosed: Int) {
        self.peer = peer
        self.closeCode = closeCode
        self.allocationsClosed = allocationsClosed
    }
}

public struct AdminRevocation: Codable, Sendable, Equatable {
    public var user: String
    public var sessionsEnded: Int
    public var allocationsClosed: Int
    /// Unix seconds until which the user's TURN credentials are refused.
    public var credentialsRefusedUntil: Int64
    public init(user: String, sessionsEnded: Int, allocationsClosed: Int, credentialsRefusedUntil: Int64) {
        self.user = user
        self.sessionsEnded = sessionsEnded
        self.allocationsClosed = allocationsClosed
        self.credentialsRefusedUntil = credentialsRefusedUntil
    }
}

public struct AdminDrain: Codable, Sendable, Equatable {
    public var draining: Bool
    public var alternateServer: String?
    public init(draining: Bool, alternateServer: String?) {
        self.draining = draining
        self.alternateServer = alternateServer
    }
}
