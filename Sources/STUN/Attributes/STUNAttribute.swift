import NIOCore

/// One attribute of a STUN message with its value decoded into a type.
///
/// XOR-encoded addresses are held as the real (un-XORed) address; the codec applies the XOR with the
/// message's transaction id on the wire.
public enum STUNAttribute: Hashable, Sendable {
    // RFC 8489
    case mappedAddress(TransportAddress)
    case xorMappedAddress(TransportAddress)
    case username(String)
    case userhash([UInt8])
    case messageIntegrity([UInt8])
    case messageIntegritySHA256([UInt8])
    case fingerprint(UInt32)
    case errorCode(STUNErrorCode)
    case realm(String)
    case nonce(String)
    case passwordAlgorithms([PasswordAlgorithm])
    case passwordAlgorithm(PasswordAlgorithm)
    case unknownAttributes([STUNAttributeType])
    case software(String)
    case alternateServer(TransportAddress)
    case alternateDomain(String)
    // RFC 3489 (classic clients)
    case responseAddress(TransportAddress)
    case sourceAddress(TransportAddress)
    case changedAddress(TransportAddress)
    // RFC 5780
    case changeRequest(ChangeRequest)
    case responseOrigin(TransportAddress)
    case otherAddress(TransportAddress)
    case responsePort(UInt16)
    case padding(Int)
    // RFC 8656
    case channelNumber(UInt16)
    case lifetime(UInt32)
    case xorPeerAddress(TransportAddress)
    case data(ByteBuffer)
    case xorRelayedAddress(TransportAddress)
    case requestedAddressFamily(AddressFamily)
    case evenPort(reserveNext: Bool)
    case requestedTransport(UInt8)
    case dontFragment
    case reservationToken(UInt64)
    case additionalAddressFamily(AddressFamily)
    case addressErrorCode(family: AddressFamily, error: STUNErrorCode)
    case icmp(ICMPInfo)
    // RFC 6062
    case connectionID(UInt32)
    /// An attribute this codec does not know, kept as raw bytes.
    case unknown(type: STUNAttributeType, value: [UInt8])

    public var type: STUNAttributeType {
        switch self {
        case .mappedAddress: .mappedAddress
        case .xorMappedAddress: .xorMappedAddress
        case .username: .username
        case .userhash: .userhash
        case .messageIntegrity: .messageIntegrity
        case .messageIntegritySHA256: .messageIntegritySHA256
        case .fingerprint: .fingerprint
        case .errorCode: .errorCode
        case .realm: .realm
        case .nonce: .nonce
        case .passwordAlgorithms: .passwordAlgorithms
        case .passwordAlgorithm: .passwordAlgorithm
        case .unknownAttributes: .unknownAttributes
        case .software: .software
        case .alternateServer: .alternateServer
        case .alternateDomain: .alternateDomain
        case .responseAddress: .responseAddress
        case .sourceAddress: .sourceAddress
        case .changedAddress: .changedAddress
        case .changeRequest: .changeRequest
        case .responseOrigin: .responseOrigin
        case .otherAddress: .otherAddress
        case .responsePort: .responsePort
        case .padding: .padding
        case .channelNumber: .channelNumber
        case .lifetime: .lifetime
        case .xorPeerAddress: .xorPeerAddress
        case .data: .data
        case .xorRelayedAddress: .xorRelayedAddress
        case .requestedAddressFamily: .requestedAddressFamily
        case .evenPort: .evenPort
        case .requestedTransport: .requestedTransport
        case .dontFragment: .dontFragment
        case .reservationToken: .reservationToken
        case .additionalAddressFamily: .additionalAddressFamily
        case .addressErrorCode: .addressErrorCode
        case .icmp: .icmp
        case .connectionID: .connectionID
        case .unknown(let type, _): type
        }
    }
}
