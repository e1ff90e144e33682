/// A STUN method (12 bits). The TURN methods of RFC 8656 are here too because they share the codec.
public struct STUNMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue & 0x0FFF
    }

    public static let binding = STUNMethod(rawValue: 0x001)
    public static let allocate = STUNMethod(rawValue: 0x003)
    public static let refresh = STUNMethod(rawValue: 0x004)
    public static let send = STUNMethod(rawValue: 0x006)
    public static let data = STUNMethod(rawValue: 0x007)
    public static let createPermission = STUNMethod(rawValue: 0x008)
    public static let channelBind = STUNMethod(rawValue: 0x009)
    // RFC 6062: TCP relays.
    public static let connect = STUNMethod(rawValue: 0x00A)
    public static let connectionBind = STUNMethod(rawValue: 0x00B)
    public static let connectionAttempt = STUNMethod(rawValue: 0x00C)

    public var description: String {
        switch self {
        case .binding: "Binding"
        case .allocate: "Allocate"
        case .refresh: "Refresh"
        case .send: "Send"
        case .data: "Data"
        case .createPermission: "CreatePermission"
        case .channelBind: "ChannelBind"
        case .connect: "Connect"
        case .connectionBind: "ConnectionBind"
        case .connectionAttempt: "ConnectionAttempt"
        default: "Method(0x\(String(rawValue, radix: 16)))"
        }
    }
}

/// The class of a STUN message (RFC 8489 §5).
public enum STUNClass: UInt8, Sendable, CaseIterable {
    case request = 0b00
    case indication = 0b01
    case successResponse = 0b10
    case errorResponse = 0b11
}

/// Method and class packed into the 14-bit message type as RFC 8489 §5 interleaves them.
public struct STUNMessageType: Hashable, Sendable, CustomStringConvertible {
    public var method: STUNMethod
    public var messageClass: STUNClass

    public init(method: STUNMethod, messageClass: STUNClass) {
        self.method = method
        self.messageClass = messageClass
    }

    /// Decodes the first two header bytes; nil when the two most significant bits are not zero.
    public init?(wireValue: UInt16) {
        guard wireValue & 0xC000 == 0 else { return nil }
        let m = wireValue
        let method = (m & 0x000F) | ((m & 0x00E0) >> 1) | ((m & 0x3E00) >> 2)
        let classBits = UInt8(truncatingIfNeeded: ((m & 0x0010) >> 4) | ((m & 0x0100) >> 7))
        self.method = STUNMethod(rawValue: method)
        self.messageClass = STUNClass(rawValue: classBits)!
    }

    public var wireValue: UInt16 {
        let m = method.rawValue
        let c = UInt16(messageClass.rawValue)
        return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
    }

    public static let bindingRequest = STUNMessageType(method: .binding, messageClass: .request)
    public static let bindingSuccess = STUNMessageType(method: .binding, messageClass: .successResponse)
    public static let bindingError = STUNMessageType(method: .binding, messageClass: .errorResponse)

    public var description: String {
        switch messageClass {
        case .request: "\(method) request"
        case .indication: "\(method) indication"
        case .successResponse: "\(method) success response"
        case .errorResponse: "\(method) error response"
        }
    }
}
