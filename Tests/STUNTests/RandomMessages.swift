import NIOCore
import STUN

/// Builds random but valid STUN messages for property and robustness tests. Every case of `STUNAttribute` except the
/// positional ones (MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256, FINGERPRINT) can come out of `attribute(kind:)`.
struct RandomMessages {
    var generator: SplitMix64

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    /// How many distinct kinds `attribute(kind:)` builds.
    static let kindCount = 37

    /// Types known to the codec; unknown attributes are drawn from outside this set.
    static let knownTypes: Set<UInt16> = [
        0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0008, 0x0009, 0x000A, 0x000C, 0x000D, 0x0012, 0x0013,
        0x0014, 0x0015, 0x0016, 0x0017, 0x0018, 0x0019, 0x001A, 0x001C, 0x001D, 0x001E, 0x0020, 0x0022, 0x0026,
        0x0027, 0x8000, 0x8001, 0x8002, 0x8003, 0x8004, 0x8022, 0x8023, 0x8028, 0x802B, 0x802C,
    ]

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    mutating func bool() -> Bool { Bool.random(using: &generator) }
    mutating func u8() -> UInt8 { UInt8.random(in: .min ... .max, using: &generator) }
    mutating func u16() -> UInt16 { UInt16.random(in: .min ... .max, using: &generator) }
    mutating func u32() -> UInt32 { UInt32.random(in: .min ... .max, using: &generator) }
    mutating func u64() -> UInt64 { generator.next() }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in u8() } }

    mutating func ip() -> IPAddress {
        bool() ? .v4(u32()) : .v6(high: u64(), low: u64())
    }

    mutating func address() -> TransportAddress {
        TransportAddress(ip: ip(), port: u16())
    }

    mutating func family() -> AddressFamily { bool() ? .ipv4 : .ipv6 }

    /// Text of at most `limit` UTF-8 bytes, mixing ASCII with 2-, 3- and 4-byte characters and a combining sequence.
    mutating func text(limit: Int) -> String {
        let pool: [Character] = ["a", "Z", "0", " ", ":", "/", "é", "ß", "日", "本", "マ", "😀", "🇫🇷", "e\u{301}", "\u{0}"]
        let target = bool() ? int(0...min(limit, 24)) : int(0...limit)
        var result = ""
        var used = 0
        while true {
            let character = pool[int(0...(pool.count - 1))]
            let size = character.utf8.count
            if used + size > target { break }
            result.append(character)
            used += size
        }
        return result
    }

    mutating func errorCode() -> STUNErrorCode {
        STUNErrorCode(code: UInt16(int(300...699)), reason: text(limit: 763))
    }

    mutating func passwordAlgorithm() -> PasswordAlgorithm {
        PasswordAlgorithm(number: u16(), parameters: bytes(int(0...7)))
    }

    mutating func unknownType(comprehensionRequired: Bool) -> STUNAttributeType {
        while true {
            let raw = comprehensionRequired ? UInt16(int(0x0000...0x7FFF)) : UInt16(int(0x8000...0xFFFF))
            if !Self.knownTypes.contains(raw) { return STUNAttributeType(rawValue: raw) }
        }
    }

    mutating func attribute(kind: Int) -> STUNAttribute {
        switch kind {
        case 0: .mappedAddress(address())
        case 1: .xorMappedAddress(address())
        case 2: .username(text(limit: 508))
        case 3: .userhash(bytes(32))
        case 4: .errorCode(errorCode())
        case 5: .realm(text(limit: 763))
        case 6: .nonce(text(limit: 763))
        case 7: .passwordAlgorithms((0..<int(0...3)).map { _ in passwordAlgorithm() })
        case 8: .passwordAlgorithm(passwordAlgorithm())
        case 9: .unknownAttributes((0..<int(0...5)).map { _ in STUNAttributeType(rawValue: u16()) })
        case 10: .software(text(limit: 763))
        case 11: .alternateServer(address())
        case 12: .alternateDomain(text(limit: 255))
        case 13: .responseAddress(address())
        case 14: .sourceAddress(address())
        case 15: .changedAddress(address())
        case 16: .changeRequest(ChangeRequest(rawValue: UInt32(int(0...3)) << 1))
        case 17: .responseOrigin(address())
        case 18: .otherAddress(address())
        case 19: .responsePort(u16())
        case 20: .padding(int(0...64))
        case 21: .channelNumber(u16())
        case 22: .lifetime(u32())
        case 23: .xorPeerAddress(address())
        case 24: .data(ByteBuffer(bytes: bytes(int(0...100))))
        case 25: .xorRelayedAddress(address())
        case 26: .requestedAddressFamily(family())
        case 27: .evenPort(reserveNext: bool())
        case 28: .requestedTransport(u8())
        case 29: .dontFragment
        case 30: .reservationToken(u64())
        case 31: .additionalAddressFamily(family())
        case 32: .addressErrorCode(family: family(), error: errorCode())
        case 33: .icmp(ICMPInfo(type: u8(), code: u8(), errorData: u32()))
        case 34: .unknown(type: unknownType(comprehensionRequired: false), value: bytes(int(0...40)))
        case 35: .unknown(type: unknownType(comprehensionRequired: false), value: bytes(int(0...3)))
        default: .unknown(type: unknownType(comprehensionRequired: true), value: bytes(int(0...12)))
        }
    }

    mutating func messageType() -> STUNMessageType {
        STUNMessageType(method: STUNMethod(rawValue: UInt16(int(0...0xFFF))),
                        messageClass: STUNClass(rawValue: UInt8(int(0...3)))!)
    }

    mutating func transactionID() -> TransactionID {
        TransactionID(high: u32(), middle: u32(), low: u32())
    }

    /// A message with 0–12 attributes; one in ten is a classic (RFC 3489) message without the magic cookie.
    mutating func message() -> STUNMessage {
        let cookie = int(0...9) == 0 ? u32() : STUNMessage.magicCookie
        let attributes = (0..<int(0...12)).map { _ in attribute(kind: int(0...(Self.kindCount - 1))) }
        return STUNMessage(type: messageType(), transactionID: transactionID(), cookie: cookie, attributes: attributes)
    }
}
