/// The ERROR-CODE value (RFC 8489 §14.8): a code in 300–699 and a UTF-8 reason phrase.
public struct STUNErrorCode: Hashable, Sendable, CustomStringConvertible {
    public var code: UInt16
    public var reason: String

    public init(code: UInt16, reason: String? = nil) {
        self.code = code
        self.reason = reason ?? STUNErrorCode.defaultReason(for: code)
    }

    public static let tryAlternate = STUNErrorCode(code: 300)
    public static let badRequest = STUNErrorCode(code: 400)
    public static let unauthorized = STUNErrorCode(code: 401)
    public static let forbidden = STUNErrorCode(code: 403)
    public static let unknownAttribute = STUNErrorCode(code: 420)
    public static let allocationMismatch = STUNErrorCode(code: 437)
    public static let staleNonce = STUNErrorCode(code: 438)
    public static let addressFamilyNotSupported = STUNErrorCode(code: 440)
    public static let wrongCredentials = STUNErrorCode(code: 441)
    public static let unsupportedTransportProtocol = STUNErrorCode(code: 442)
    public static let peerAddressFamilyMismatch = STUNErrorCode(code: 443)
    public static let connectionAlreadyExists = STUNErrorCode(code: 446)
    public static let connectionTimeoutOrFailure = STUNErrorCode(code: 447)
    public static let allocationQuotaReached = STUNErrorCode(code: 486)
    public static let serverError = STUNErrorCode(code: 500)
    public static let insufficientCapacity = STUNErrorCode(code: 508)

    public static func defaultReason(for code: UInt16) -> String {
        switch code {
        case 300: "Try Alternate"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 420: "Unknown Attribute"
        case 437: "Allocation Mismatch"
        case 438: "Stale Nonce"
        case 440: "Address Family not Supported"
        case 441: "Wrong Credentials"
        case 442: "Unsupported Transport Protocol"
        case 443: "Peer Address Family Mismatch"
        case 446: "Connection Already Exists"
        case 447: "Connection Timeout or Failure"
        case 486: "Allocation Quota Reached"
        case 500: "Server Error"
        case 508: "Insufficient Capacity"
        default: "Error"
        }
    }

    public var description: String { "\(code) \(reason)" }
}
