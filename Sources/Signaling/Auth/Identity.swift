/// Who a session belongs to, from its token (or made up when the server runs open).
public struct Identity: Sendable, Equatable {
    public enum Rooms: Sendable, Equatable {
        case any
        case only(Set<String>)
    }

    public var user: String
    public var rooms: Rooms
    /// Unix seconds after which the token is no longer valid (informational; checked at the handshake).
    public var expiry: Double?

    public init(user: String, rooms: Rooms = .any, expiry: Double? = nil) {
        self.user = user
        self.rooms = rooms
        self.expiry = expiry
    }

    public func mayJoin(_ room: String) -> Bool {
        switch rooms {
        case .any: true
        case .only(let allowed): allowed.contains(room)
        }
    }
}

/// Turns a token into an identity. Implemented by the server with JWT; the core never sees keys.
public protocol TokenVerifier: Sendable {
    /// nil token: the client sent none. Throws `SignalingCloseReason.unauthorized` or `.tokenExpired`.
    func verify(_ token: String?) throws(SignalingCloseReason) -> Identity
    /// Whether a token must be presented at all (false when the server runs open).
    var requiresToken: Bool { get }
}
