import Foundation

/// Who a `signal` is for.
public enum SignalTarget: Sendable, Equatable {
    case peer(String)
    case user(String)
}

/// A frame from a client, parsed and checked for shape (not yet for permission).
public enum ClientFrame: Sendable, Equatable {
    case auth(token: String)
    case join(room: String, meta: JSONValue?)
    case leave(room: String)
    /// `data` is the JSON text exactly as the sender wrote it (validated), forwarded without re-encoding.
    case signal(room: String, target: SignalTarget, data: String)
    case broadcast(room: String, data: String, includeSelf: Bool)
    case ping(time: JSONValue?)
}

/// A client frame as received: its `id` (echoed in `ack` / `error.ref`) and the frame or why it is refused.
public struct ReceivedFrame: Sendable {
    public var id: JSONValue?
    public var frame: Result<ClientFrame, SignalingError>

    /// Parses one text frame. Never throws: malformed input becomes a `bad-request` error.
    public static func parse(_ text: String, limits: SignalingLimits) -> ReceivedFrame {
        guard let members = try? FrameMembers(text) else {
            return ReceivedFrame(id: nil, frame: .failure(.badRequest("frame is not a JSON object")))
        }
        var id: JSONValue?
        switch members.id {
        case nil, .null?: break
        case .string(let text)? where text.count <= 64: id = .string(text)
        case .number(let number)? where number.isFinite: id = .number(number)
        default:
            return ReceivedFrame(id: nil, frame: .failure(.badRequest("id must be a string of at most 64 characters or a number")))
        }
        return ReceivedFrame(id: id, frame: Result { try ClientFrame(members, limits: limits) }
            .mapError { $0 as! SignalingError })
    }
}

/// The members of a client frame that mean something, read in one pass over the text.
///
/// Only these are built as values; `data` and unknown members are checked as strictly but kept as text (`data`) or
/// dropped: a signal's payload is forwarded as written, so building its tree was most of the cost of a frame. As with
/// any JSON object read into a table, a repeated name keeps its last value.
struct FrameMembers {
    var type: JSONValue?
    var id: JSONValue?
    var room: JSONValue?
    var to: JSONValue?
    var toUser: JSONValue?
    var token: JSONValue?
    var meta: JSONValue?
    var time: JSONValue?
    var includeSelf: JSONValue?
    /// The exact text of `data`.
    var data: String?

    init(_ text: String) throws(JSONParseError) {
        var members = FrameMembers()
        try JSONParser.forEachMember(of: text) { (name, cursor) throws(JSONParseError) in
            switch name {
            case "type": members.type = try cursor.value(depth: 1)
            case "id": members.id = try cursor.value(depth: 1)
            case "room": members.room = try cursor.value(depth: 1)
            case "to": members.to = try cursor.value(depth: 1)
            case "toUser": members.toUser = try cursor.value(depth: 1)
            case "token": members.token = try cursor.value(depth: 1)
            case "meta": members.meta = try cursor.value(depth: 1)
            case "time": members.time = try cursor.value(depth: 1)
            case "includeSelf": members.includeSelf = try cursor.value(depth: 1)
            case "data":
                let range = try cursor.skipValue(depth: 1)
                members.data = String(decoding: UnsafeBufferPointer(rebasing: cursor.bytes[range]), as: UTF8.self)
            default: try cursor.skipValue(depth: 1)
            }
        }
        self = members
    }

    private init() {}
}

extension ClientFrame {
    init(_ object: FrameMembers, limits: SignalingLimits) throws {
        guard let type = object.type?.stringValue else { throw SignalingError.badRequest("type is missing") }
        func string(_ value: JSONValue?, _ key: String) throws -> String {
            guard let value = value?.stringValue else { throw SignalingError.badRequest("\(key) must be a string") }
            return value
        }
        func room() throws -> String {
            let name = try string(object.room, "room")
            guard RoomName.isValid(name) else {
                throw SignalingError.badRequest("room must be 1-128 characters of A-Z a-z 0-9 _ - . : @")
            }
            return name
        }
        func data() throws -> String {
            guard let rawData = object.data else { throw SignalingError.badRequest("data is missing") }
            return rawData
        }
        switch type {
        case "auth":
            self = .auth(token: try string(object.token, "token"))
        case "join":
            let meta = object.meta
            switch meta {
            case nil, .null?: break
            case .object?:
                if JSONWriter.serialise(meta!).utf8.count > limits.maxMetaBytes {
                    throw SignalingError(code: .tooLarge, message: "meta is larger than \(limits.maxMetaBytes) bytes")
                }
            default: throw SignalingError.badRequest("meta must be an object")
            }
            self = .join(room: try room(), meta: meta == .null ? nil : meta)
        case "leave":
            self = .leave(room: try room())
        case "signal":
            let room = try room()
            switch (object.to, object.toUser) {
            case (.string(let peer)?, nil): self = .signal(room: room, target: .peer(peer), data: try data())
            case (nil, .string(let user)?): self = .signal(room: room, target: .user(user), data: try data())
            default: throw SignalingError.badRequest("signal needs exactly one of to (peer id) and toUser (user id), as strings")
            }
        case "broadcast":
            let includeSelf: Bool
            switch object.includeSelf {
            case nil, .null?: includeSelf = false
            case .bool(let value)?: includeSelf = value
            default: throw SignalingError.badRequest("includeSelf must be a boolean")
            }
            self = .broadcast(room: try room(), data: try data(), includeSelf: includeSelf)
        case "ping":
            self = .ping(time: object.time)
        default:
            throw SignalingError.badRequest("unknown type '\(type.prefix(32))'")
        }
    }
}

enum RoomName {
    static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard (1...128).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: ":"), UInt8(ascii: "@"):
                true
            default:
                false
            }
        }
    }
}
