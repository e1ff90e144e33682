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
        guard let (object, raw) = try? JSONParser.parseObject(text, keepingRawTextOf: ["data"]) else {
            return ReceivedFrame(id: nil, frame: .failure(.badRequest("frame is not a JSON object")))
        }
        var id: JSONValue?
        switch object["id"] {
        case nil, .null?: break
        case .string(let text)? where text.count <= 64: id = .string(text)
        case .number(let number)? where number.isFinite: id = .number(number)
        default:
            return ReceivedFrame(id: nil, frame: .failure(.badRequest("id must be a string of at most 64 characters or a number")))
        }
        return ReceivedFrame(id: id, frame: Result { try ClientFrame(object, rawData: raw["data"], limits: limits) }
            .mapError { $0 as! SignalingError })
    }
}

extension ClientFrame {
    init(_ object: [String: JSONValue], rawData: String?, limits: SignalingLimits) throws {
        guard let type = object["type"]?.stringValue else { throw SignalingError.badRequest("type is missing") }
        func string(_ key: String) throws -> String {
            guard let value = object[key]?.stringValue else { throw SignalingError.badRequest("\(key) must be a string") }
            return value
        }
        func room() throws -> String {
            let name = try string("room")
            guard RoomName.isValid(name) else {
                throw SignalingError.badRequest("room must be 1-128 characters of A-Z a-z 0-9 _ - . : @")
            }
            return name
        }
        func data() throws -> String {
            guard let rawData else { throw SignalingError.badRequest("data is missing") }
            return rawData
        }
        switch type {
        case "auth":
            self = .auth(token: try string("token"))
        case "join":
            let meta = object["meta"]
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
            switch (object["to"], object["toUser"]) {
            case (.string(let peer)?, nil): self = .signal(room: room, target: .peer(peer), data: try data())
            case (nil, .string(let user)?): self = .signal(room: room, target: .user(user), data: try data())
            default: throw SignalingError.badRequest("signal needs exactly one of to (peer id) and toUser (user id), as strings")
            }
        case "broadcast":
            let includeSelf: Bool
            switch object["includeSelf"] {
            case nil, .null?: includeSelf = false
            case .bool(let value)?: includeSelf = value
            default: throw SignalingError.badRequest("includeSelf must be a boolean")
            }
            self = .broadcast(room: try room(), data: try data(), includeSelf: includeSelf)
        case "ping":
            self = .ping(time: object["time"])
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
