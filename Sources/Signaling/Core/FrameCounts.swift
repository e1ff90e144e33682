/// Frames the core received and produced, by type: a fixed set of names, so a metric labelled by them stays
/// small whatever clients send.
public struct FrameCounts: Sendable, Equatable {
    public static let inboundTypes = ["auth", "join", "leave", "signal", "broadcast", "ping", "invalid"]
    public static let outboundTypes = ["welcome", "joined", "left", "peer-joined", "peer-left", "signal", "broadcast",
                                       "ack", "pong", "error"]

    public private(set) var inbound = [Int](repeating: 0, count: inboundTypes.count)
    public private(set) var outbound = [Int](repeating: 0, count: outboundTypes.count)

    public init() {}

    mutating func received(_ frame: Result<ClientFrame, SignalingError>) {
        let index: Int
        switch frame {
        case .success(.auth): index = 0
        case .success(.join): index = 1
        case .success(.leave): index = 2
        case .success(.signal): index = 3
        case .success(.broadcast): index = 4
        case .success(.ping): index = 5
        case .failure: index = 6
        }
        inbound[index] &+= 1
    }

    /// `welcome` is written straight from the session, not through `produced`.
    mutating func producedWelcome() {
        outbound[0] &+= 1
    }

    mutating func produced(_ frame: ServerFrame) {
        let index: Int
        switch frame {
        case .welcome: index = 0
        case .joined: index = 1
        case .left: index = 2
        case .peerJoined: index = 3
        case .peerLeft: index = 4
        case .signal: index = 5
        case .broadcast: index = 6
        case .ack: index = 7
        case .pong: index = 8
        case .error: index = 9
        }
        outbound[index] &+= 1
    }
}
