import NIOCore

/// A STUN message: header fields and its attributes in wire order.
///
/// A message decoded from the wire also remembers its raw bytes and where MESSAGE-INTEGRITY,
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT stood, so integrity can be checked against the exact bytes received.
public struct STUNMessage: Hashable, Sendable {
    public static let magicCookie: UInt32 = 0x2112_A442
    public static let headerLength = 20

    public var type: STUNMessageType
    public var transactionID: TransactionID
    /// The cookie field as received. Classic RFC 3489 clients put transaction id bytes here; a response echoes it.
    public var cookie: UInt32
    public var attributes: [STUNAttribute]

    /// Comprehension-required attribute types this codec did not know (answer with 420 and UNKNOWN-ATTRIBUTES).
    public internal(set) var unknownComprehensionRequired: [STUNAttributeType] = []
    /// Bytes of the message as received; nil for a message built in code.
    public internal(set) var raw: ByteBuffer?
    /// Offsets from the start of `raw` of the integrity attributes' headers, when present and honoured.
    public internal(set) var messageIntegrityOffset: Int?
    public internal(set) var messageIntegritySHA256Offset: Int?

    public init(type: STUNMessageType, transactionID: TransactionID = .random(), cookie: UInt32 = STUNMessage.magicCookie,
                attributes: [STUNAttribute] = []) {
        self.type = type
        self.transactionID = transactionID
        self.cookie = cookie
        self.attributes = attributes
    }

    /// True for a message from a classic RFC 3489 agent (no magic cookie).
    public var isClassic: Bool { cookie != STUNMessage.magicCookie }

    public func attribute(_ type: STUNAttributeType) -> STUNAttribute? {
        attributes.first { $0.type == type }
    }

    public func contains(_ type: STUNAttributeType) -> Bool {
        attributes.contains { $0.type == type }
    }

    public mutating func append(_ attribute: STUNAttribute) {
        attributes.append(attribute)
    }

    /// A response with the same transaction id (and cookie, for classic clients).
    public func response(_ messageClass: STUNClass, attributes: [STUNAttribute] = []) -> STUNMessage {
        STUNMessage(type: STUNMessageType(method: type.method, messageClass: messageClass),
                    transactionID: transactionID, cookie: cookie, attributes: attributes)
    }

    public func errorResponse(_ error: STUNErrorCode, attributes: [STUNAttribute] = []) -> STUNMessage {
        response(.errorResponse, attributes: [.errorCode(error)] + attributes)
    }
}

// Typed accessors for the attributes that handlers read most.
extension STUNMessage {
    public var username: String? {
        if case .username(let value)? = attribute(.username) { return value }
        return nil
    }
    public var realm: String? {
        if case .realm(let value)? = attribute(.realm) { return value }
        return nil
    }
    public var nonce: String? {
        if case .nonce(let value)? = attribute(.nonce) { return value }
        return nil
    }
    public var software: String? {
        if case .software(let value)? = attribute(.software) { return value }
        return nil
    }
    public var errorCode: STUNErrorCode? {
        if case .errorCode(let value)? = attribute(.errorCode) { return value }
        return nil
    }
    public var xorMappedAddress: TransportAddress? {
        if case .xorMappedAddress(let value)? = attribute(.xorMappedAddress) { return value }
        return nil
    }
    public var mappedAddress: TransportAddress? {
        if case .mappedAddress(let value)? = attribute(.mappedAddress) { return value }
        return nil
    }
    public var responseOrigin: TransportAddress? {
        if case .responseOrigin(let value)? = attribute(.responseOrigin) { return value }
        if case .sourceAddress(let value)? = attribute(.sourceAddress) { return value }
        return nil
    }
    public var otherAddress: TransportAddress? {
        if case .otherAddress(let value)? = attribute(.otherAddress) { return value }
        if case .changedAddress(let value)? = attribute(.changedAddress) { return value }
        return nil
    }
    public var changeRequest: ChangeRequest? {
        if case .changeRequest(let value)? = attribute(.changeRequest) { return value }
        return nil
    }
    public var responsePort: UInt16? {
        if case .responsePort(let value)? = attribute(.responsePort) { return value }
        return nil
    }
    public var paddingLength: Int? {
        if case .padding(let value)? = attribute(.padding) { return value }
        return nil
    }
    public var fingerprint: UInt32? {
        if case .fingerprint(let value)? = attribute(.fingerprint) { return value }
        return nil
    }
}
