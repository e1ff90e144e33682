import STUN

/// Why a STUN transaction did not produce a success response.
public enum STUNClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No response after every retransmission.
    case timedOut(server: TransportAddress, requests: Int, seconds: Double)
    /// The server answered with an error response.
    case errorResponse(STUNErrorCode)
    case cannotResolve(String)
    case closed

    public var description: String {
        switch self {
        case .timedOut(let server, let requests, let seconds):
            "no response from \(server) after \(requests) requests over \((seconds * 10).rounded() / 10) s"
        case .errorResponse(let error): "server answered \(error)"
        case .cannotResolve(let host): "cannot resolve \(host)"
        case .closed: "client closed"
        }
    }
}
