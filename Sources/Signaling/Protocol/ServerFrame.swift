/// A peer as others see it.
public struct PeerInfo: Sendable, Equatable {
    public var id: String
    public var user: String
    public var meta: JSONValue?
}

/// A frame from the server. `encode(seq:)` writes it with its sequence number; `data` of signals and broadcasts
/// is carried pre-serialised so a fan-out to many peers serialises it once.
enum ServerFrame {
    case welcome(session: String, resume: String, heartbeat: Int, user: String, resumed: Bool)
    case joined(room: String, selfID: String, peers: [PeerInfo], iceServers: JSONValue)
    case left(room: String)
    case peerJoined(room: String, peer: PeerInfo)
    case peerLeft(room: String, peer: String, reason: String)
    case signal(room: String, from: String, fromUser: String, data: String)
    case broadcast(room: String, from: String, fromUser: String, data: String)
    case ack(id: JSONValue)
    case pong(id: JSONValue?, time: JSONValue?)
    case error(SignalingError, ref: JSONValue?)

    /// Written through `scratch`, a buffer the caller keeps from frame to frame.
    func encode(seq: UInt64, scratch: inout [UInt8]) -> String {
        var json = JSONWriter(reusing: &scratch)
        switch self {
        case .welcome(let session, let resume, let heartbeat, let user, let resumed):
            json.field("type", "welcome")
            json.field("seq", seq)
            json.field("session", session)
            json.field("resume", resume)
            json.field("heartbeat", heartbeat)
            json.field("user", user)
            json.field("resumed", resumed)
        case .joined(let room, let selfID, let peers, let iceServers):
            json.field("type", "joined")
            json.field("seq", seq)
            json.field("room", room)
            json.field("self", selfID)
            json.field("peers", .array(peers.map(\.json)))
            json.field("iceServers", iceServers)
        case .left(let room):
            json.field("type", "left")
            json.field("seq", seq)
            json.field("room", room)
        case .peerJoined(let room, let peer):
            json.field("type", "peer-joined")
            json.field("seq", seq)
            json.field("room", room)
            json.field("peer", peer.json)
        case .peerLeft(let room, let peer, let reason):
            json.field("type", "peer-left")
            json.field("seq", seq)
            json.field("room", room)
            json.field("peer", peer)
            json.field("reason", reason)
        case .signal(let room, let from, let fromUser, let data), .broadcast(let room, let from, let fromUser, let data):
            if case .signal = self { json.field("type", "signal") } else { json.field("type", "broadcast") }
            json.field("seq", seq)
            json.field("room", room)
            json.field("from", from)
            json.field("fromUser", fromUser)
            json.field("data", raw: data)
        case .ack(let id):
            json.field("type", "ack")
            json.field("seq", seq)
            json.field("id", id)
        case .pong(let id, let time):
            json.field("type", "pong")
            json.field("seq", seq)
            if let id { json.field("id", id) }
            if let time { json.field("time", time) }
        case .error(let error, let ref):
            json.field("type", "error")
            json.field("seq", seq)
            json.field("code", error.code.rawValue)
            json.field("message", error.message)
            if let ref { json.field("ref", ref) }
        }
        return json.finish(returning: &scratch)
    }
}

extension PeerInfo {
    var json: JSONValue {
        var object: [String: JSONValue] = ["id": .string(id), "user": .string(user)]
        object["meta"] = meta ?? .object([:])
        return .object(object)
    }
}
