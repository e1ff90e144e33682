/// A PASSWORD-ALGORITHM entry (RFC 8489 §14.11–14.12, §18.5).
public struct PasswordAlgorithm: Hashable, Sendable {
    public var number: UInt16
    public var parameters: [UInt8]

    public init(number: UInt16, parameters: [UInt8] = []) {
        self.number = number
        self.parameters = parameters
    }

    public static let md5 = PasswordAlgorithm(number: 0x0001)
    public static let sha256 = PasswordAlgorithm(number: 0x0002)
}

/// The flags of CHANGE-REQUEST (RFC 5780 §7.2).
public struct ChangeRequest: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let changeIP = ChangeRequest(rawValue: 0x4)
    public static let changePort = ChangeRequest(rawValue: 0x2)
}

/// The ICMP attribute (RFC 8656 §18.13).
public struct ICMPInfo: Hashable, Sendable {
    public var type: UInt8
    public var code: UInt8
    public var errorData: UInt32

    public init(type: UInt8, code: UInt8, errorData: UInt32) {
        self.type = type
        self.code = code
        self.errorData = errorData
    }
}
