import HummingbirdCore
import NIOHTTP1
import Signaling

/// What a `GET /v1/ws` upgrade asks for, read from its URL: a token, and a session to resume.
struct WebSocketUpgradeRequest: Sendable {
    static let path = "/v1/ws"

    var token: String?
    var resume: (token: String, last: UInt64)?
    /// Set when the URL itself is refused (a resume without `last`): the connection is closed with it at once.
    var refusal: SignalingCloseReason?
    /// The address the client reached, for the host of its TURN URLs.
    var host: String

    init(uri: String, host: String) {
        let query = URI(uri).queryParameters
        token = query["token"].map(String.init)
        self.host = host
        if let resumeToken = query["resume"] {
            if let last = query["last"].flatMap({ UInt64($0) }) {
                resume = (String(resumeToken), last)
            } else {
                refusal = .resumeFailed
            }
        }
    }

    /// Whether an upgrade request is for the signaling WebSocket; any other path is answered 400.
    static func isSignaling(_ head: NIOHTTP1.HTTPRequestHead) -> Bool {
        head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first == Substring(path)
    }
}
