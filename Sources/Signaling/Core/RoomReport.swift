/// What the operator sees of one room (admin API).
public struct RoomReport: Sendable, Equatable {
    public struct Peer: Sendable, Equatable {
        public var session: String
        public var user: String
        public var meta: JSONValue?
    }

    public var room: String
    public var peers: [Peer]
}
