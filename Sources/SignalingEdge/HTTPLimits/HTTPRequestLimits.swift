/// What an HTTP client may send before it is answered, and how long it may take (see docs/limits.md).
public struct HTTPRequestLimits: Sendable, Equatable {
    /// Seconds from a connection's accept, or from the first byte of a later request, until the whole request
    /// (head and body) has arrived. A client that trickles bytes is closed with 408 when it runs out.
    public var requestTimeout: Double = 10
    /// Bytes of the request line and header fields together; more gets 431.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Header fields in one request; more gets 431.
    public var maxHeaderCount: Int = 100
    /// Bytes of a request body; more gets 413. Long polling's batches are the largest bodies we take.
    public var maxBodyBytes: Int = 1024 * 1024

    public init() {}
}

/// Why a request was refused before it reached a route: the status line and the JSON error body.
struct HTTPRefusal: Error, Sendable, Equatable {
    var status: Int
    var phrase: String
    var code: String
    var message: String

    static func badRequest(_ message: String) -> HTTPRefusal {
        HTTPRefusal(status: 400, phrase: "Bad Request", code: "bad-request", message: message)
    }

    static func headerTooLarge(_ message: String) -> HTTPRefusal {
        HTTPRefusal(status: 431, phrase: "Request Header Fields Too Large", code: "header-too-large", message: message)
    }

    static let bodyTooLarge = HTTPRefusal(status: 413, phrase: "Content Too Large", code: "too-large",
                                          message: "request body too large")
    static let forbiddenOrigin = HTTPRefusal(status: 403, phrase: "Forbidden", code: "forbidden-origin",
                                             message: "this origin may not use the API")
    static let timeout = HTTPRefusal(status: 408, phrase: "Request Timeout", code: "request-timeout",
                                     message: "the request did not arrive in time")
    static let tooManyFromAddress = HTTPRefusal(status: 429, phrase: "Too Many Requests", code: "too-many-connections",
                                                message: "too many open connections from this address")
    static let serverFull = HTTPRefusal(status: 503, phrase: "Service Unavailable", code: "server-full",
                                        message: "the server has no room for another connection")

    /// The whole response, closing the connection: written before any route runs, so it is plain bytes.
    var responseBytes: String {
        let body = #"{"error":"\#(code)","message":"\#(message)"}"#
        return "HTTP/1.1 \(status) \(phrase)\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n"
            + "cache-control: no-store\r\nconnection: close\r\n\r\n" + body
    }
}
