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
