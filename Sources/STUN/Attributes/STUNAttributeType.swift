/// A STUN attribute type. Types below 0x8000 are comprehension-required (RFC 8489 §14).
public struct STUNAttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public var isComprehensionRequired: Bool { rawValue < 0x8000 }

    /// True for the types this codec decodes into a typed `STUNAttribute` (all others become `.unknown`).
    public var isKnown: Bool {
        switch rawValue {
        case 0x0001...0x0006, 0x0008, 0x0009, 0x000A, 0x000C, 0x000D, 0x0012...0x001A, 0x001C...0x001E, 0x0020, 0x0022,
             0x0026, 0x002A, 0x0027, 0x8000...0x8004, 0x8022, 0x8023, 0x8028, 0x802B, 0x802C:
            true
        default:
            false
        }
    }

    // RFC 8489
    public static let mappedAddress = Self(rawValue: 0x0001)
    public static let username = Self(rawValue: 0x0006)
    public static let messageIntegrity = Self(rawValue: 0x0008)
    public static let errorCode = Self(rawValue: 0x0009)
    public static let unknownAttributes = Self(rawValue: 0x000A)
    public static let realm = Self(rawValue: 0x0014)
    public static let nonce = Self(rawValue: 0x0015)
    public static let messageIntegritySHA256 = Self(rawValue: 0x001C)
    public static let passwordAlgorithm = Self(rawValue: 0x001D)
    public static let userhash = Self(rawValue: 0x001E)
    public static let xorMappedAddress = Self(rawValue: 0x0020)
    public static let passwordAlgorithms = Self(rawValue: 0x8002)
    public static let alternateDomain = Self(rawValue: 0x8003)
    public static let software = Self(rawValue: 0x8022)
    public static let alternateServer = Self(rawValue: 0x8023)
    public static let fingerprint = Self(rawValue: 0x8028)
    // RFC 3489, still sent to classic clients that have no magic cookie.
    public static let responseAddress = Self(rawValue: 0x0002)
    public static let sourceAddress = Self(rawValue: 0x0004)
    public static let changedAddress = Self(rawValue: 0x0005)
    // RFC 5780
    public static let changeRequest = Self(rawValue: 0x0003)
    public static let padding = Self(rawValue: 0x0026)
    public static let responsePort = Self(rawValue: 0x0027)
    public static let responseOrigin = Self(rawValue: 0x802B)
    public static let otherAddress = Self(rawValue: 0x802C)
    // RFC 8656
    public static let channelNumber = Self(rawValue: 0x000C)
    public static let lifetime = Self(rawValue: 0x000D)
    public static let xorPeerAddress = Self(rawValue: 0x0012)
    public static let data = Self(rawValue: 0x0013)
    public static let xorRelayedAddress = Self(rawValue: 0x0016)
    public static let requestedAddressFamily = Self(rawValue: 0x0017)
    public static let evenPort = Self(rawValue: 0x0018)
    public static let requestedTransport = Self(rawValue: 0x0019)
    public static let dontFragment = Self(rawValue: 0x001A)
    public static let reservationToken = Self(rawValue: 0x0022)
    public static let additionalAddressFamily = Self(rawValue: 0x8000)
    public static let addressErrorCode = Self(rawValue: 0x8001)
    public static let icmp = Self(rawValue: 0x8004)

    // RFC 6062
    public static let connectionID = Self(rawValue: 0x002A)

    public var description: String {
        let names: [UInt16: String] = [
            0x0001: "MAPPED-ADDRESS", 0x0002: "RESPONSE-ADDRESS", 0x0003: "CHANGE-REQUEST", 0x0004: "SOURCE-ADDRESS",
            0x0005: "CHANGED-ADDRESS", 0x0006: "USERNAME", 0x0008: "MESSAGE-INTEGRITY", 0x0009: "ERROR-CODE",
            0x000A: "UNKNOWN-ATTRIBUTES", 0x000C: "CHANNEL-NUMBER", 0x000D: "LIFETIME", 0x0012: "XOR-PEER-ADDRESS",
            0x0013: "DATA", 0x0014: "REALM", 0x0015: "NONCE", 0x0016: "XOR-RELAYED-ADDRESS",
            0x0017: "REQUESTED-ADDRESS-FAMILY", 0x0018: "EVEN-PORT", 0x0019: "REQUESTED-TRANSPORT",
            0x001A: "DONT-FRAGMENT", 0x001C: "MESSAGE-INTEGRITY-SHA256", 0x001D: "PASSWORD-ALGORITHM",
            0x001E: "USERHASH", 0x0020: "XOR-MAPPED-ADDRESS", 0x0022: "RESERVATION-TOKEN", 0x0026: "PADDING", 0x002A: "CONNECTION-ID",
            0x0027: "RESPONSE-PORT", 0x8000: "ADDITIONAL-ADDRESS-FAMILY", 0x8001: "ADDRESS-ERROR-CODE",
            0x8002: "PASSWORD-ALGORITHMS", 0x8003: "ALTERNATE-DOMAIN", 0x8004: "ICMP", 0x8022: "SOFTWARE",
            0x8023: "ALTERNATE-SERVER", 0x8028: "FINGERPRINT", 0x802B: "RESPONSE-ORIGIN", 0x802C: "OTHER-ADDRESS",
        ]
        return names[rawValue] ?? "0x" + String(rawValue, radix: 16)
    }
}
