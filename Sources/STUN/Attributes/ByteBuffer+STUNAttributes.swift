import NIOCore

/// Limits from RFC 8489 §14: USERNAME fewer than 509 bytes; REALM, NONCE, SOFTWARE and reason phrases at most 763.
enum TextLimit {
    static let username = 508
    static let longText = 763
    static let alternateDomain = 255
}

extension ByteBuffer {
    /// Decodes the value of one attribute. `value` holds exactly the value bytes (no padding).
    static func decodeSTUNAttribute(
        type: STUNAttributeType, value: ByteBuffer, transactionID: TransactionID
    ) throws(STUNDecodingError) -> STUNAttribute {
        var value = value
        func malformed(_ why: String) -> STUNDecodingError { .malformedAttribute(type, why) }
        func fixed(_ length: Int) throws(STUNDecodingError) {
            guard value.readableBytes == length else { throw malformed("length \(value.readableBytes), expected \(length)") }
        }
        func text(limit: Int) throws(STUNDecodingError) -> String {
            guard value.readableBytes <= limit else { throw malformed("longer than \(limit) bytes") }
            guard let string = String(validating: value.readBytes(length: value.readableBytes)!, as: UTF8.self) else {
                throw malformed("not UTF-8")
            }
            return string
        }
        func address(xor: Bool) throws(STUNDecodingError) -> TransportAddress {
            guard value.readableBytes >= 4, let _ = value.readInteger(as: UInt8.self),
                  let familyByte = value.readInteger(as: UInt8.self), var port = value.readInteger(as: UInt16.self)
            else { throw malformed("shorter than an address header") }
            guard let family = AddressFamily(rawValue: familyByte) else { throw malformed("unknown address family \(familyByte)") }
            if xor { port ^= UInt16(truncatingIfNeeded: STUNMessage.magicCookie >> 16) }
            switch family {
            case .ipv4:
                guard value.readableBytes == 4, var ip = value.readInteger(as: UInt32.self) else { throw malformed("IPv4 address needs 4 bytes") }
                if xor { ip ^= STUNMessage.magicCookie }
                return TransportAddress(ip: .v4(ip), port: port)
            case .ipv6:
                guard value.readableBytes == 16, var high = value.readInteger(as: UInt64.self),
                      var low = value.readInteger(as: UInt64.self) else { throw malformed("IPv6 address needs 16 bytes") }
                if xor {
                    high ^= UInt64(STUNMessage.magicCookie) << 32 | UInt64(transactionID.high)
                    low ^= UInt64(transactionID.middle) << 32 | UInt64(transactionID.low)
                }
                return TransportAddress(ip: .v6(high: high, low: low), port: port)
            }
        }
        func family() throws(STUNDecodingError) -> AddressFamily {
            try fixed(4)
            let byte = value.readInteger(as: UInt8.self)!
            guard let family = AddressFamily(rawValue: byte) else { throw malformed("unknown address family \(byte)") }
            return family
        }
        func errorCode() throws(STUNDecodingError) -> STUNErrorCode {
            guard let word = value.readInteger(as: UInt32.self) else { throw malformed("shorter than 4 bytes") }
            let errorClass = UInt16((word >> 8) & 0x7)
            let number = UInt16(word & 0xFF)
            guard (3...6).contains(errorClass), number < 100 else { throw malformed("code \(errorClass)\(number) out of range") }
            return STUNErrorCode(code: errorClass * 100 + number, reason: try text(limit: TextLimit.longText))
        }
        func bytes() -> [UInt8] { value.readBytes(length: value.readableBytes)! }
        func u32() throws(STUNDecodingError) -> UInt32 {
            try fixed(4)
            return value.readInteger(as: UInt32.self)!
        }

        switch type {
        case .mappedAddress: return .mappedAddress(try address(xor: false))
        case .xorMappedAddress: return .xorMappedAddress(try address(xor: true))
        case .responseAddress: return .responseAddress(try address(xor: false))
        case .sourceAddress: return .sourceAddress(try address(xor: false))
        case .changedAddress: return .changedAddress(try address(xor: false))
        case .alternateServer: return .alternateServer(try address(xor: false))
        case .responseOrigin: return .responseOrigin(try address(xor: false))
        case .otherAddress: return .otherAddress(try address(xor: false))
        case .xorPeerAddress: return .xorPeerAddress(try address(xor: true))
        case .xorRelayedAddress: return .xorRelayedAddress(try address(xor: true))
        case .username: return .username(try text(limit: TextLimit.username))
        case .realm: return .realm(try text(limit: TextLimit.longText))
        case .nonce: return .nonce(try text(limit: TextLimit.longText))
        case .software: return .software(try text(limit: TextLimit.longText))
        case .alternateDomain: return .alternateDomain(try text(limit: TextLimit.alternateDomain))
        case .userhash:
            try fixed(32)
            return .userhash(bytes())
        case .messageIntegrity:
            try fixed(20)
            return .messageIntegrity(bytes())
        case .messageIntegritySHA256:
            guard (16...32).contains(value.readableBytes), value.readableBytes % 4 == 0 else {
                throw malformed("length must be 16 to 32 and a multiple of 4")
            }
            return .messageIntegritySHA256(bytes())
        case .fingerprint: return .fingerprint(try u32())
        case .errorCode: return .errorCode(try errorCode())
        case .unknownAttributes:
            guard value.readableBytes % 2 == 0 else { throw malformed("odd length") }
            var types: [STUNAttributeType] = []
            while let raw = value.readInteger(as: UInt16.self) { types.append(STUNAttributeType(rawValue: raw)) }
            return .unknownAttributes(types)
        case .passwordAlgorithms:
            var algorithms: [PasswordAlgorithm] = []
            while value.readableBytes > 0 {
                algorithms.append(try readPasswordAlgorithm(&value, type: type))
            }
            return .passwordAlgorithms(algorithms)
        case .passwordAlgorithm:
            let algorithm = try readPasswordAlgorithm(&value, type: type)
            guard value.readableBytes == 0 else { throw malformed("trailing bytes") }
            return .passwordAlgorithm(algorithm)
        case .changeRequest: return .changeRequest(ChangeRequest(rawValue: try u32()))
        case .responsePort:
            let word = try u32()
            return .responsePort(UInt16(truncatingIfNeeded: word >> 16))
        case .padding: return .padding(value.readableBytes)
        case .channelNumber:
            let word = try u32()
            return .channelNumber(UInt16(truncatingIfNeeded: word >> 16))
        case .lifetime: return .lifetime(try u32())
        case .data: return .data(value)
        case .requestedAddressFamily: return .requestedAddressFamily(try family())
        case .additionalAddressFamily: return .additionalAddressFamily(try family())
        case .evenPort:
            try fixed(1)
            return .evenPort(reserveNext: value.readInteger(as: UInt8.self)! & 0x80 != 0)
        case .requestedTransport:
            let word = try u32()
            return .requestedTransport(UInt8(truncatingIfNeeded: word >> 24))
        case .dontFragment:
            try fixed(0)
            return .dontFragment
        case .connectionID: return .connectionID(try u32())
        case .reservationToken:
            try fixed(8)
            return .reservationToken(value.readInteger(as: UInt64.self)!)
        case .addressErrorCode:
            guard let familyByte = value.getInteger(at: value.readerIndex, as: UInt8.self),
                  let family = AddressFamily(rawValue: familyByte) else { throw malformed("unknown address family") }
            // Family shares the first word with the class and number: blank it before reading the code.
            value.setInteger(UInt8(0), at: value.readerIndex)
            return .addressErrorCode(family: family, error: try errorCode())
        case .icmp:
            try fixed(8)
            _ = value.readInteger(as: UInt16.self)
            return .icmp(ICMPInfo(
                type: value.readInteger(as: UInt8.self)!, code: value.readInteger(as: UInt8.self)!,
                errorData: value.readInteger(as: UInt32.self)!))
        default:
            return .unknown(type: type, value: bytes())
        }
    }

    private static func readPasswordAlgorithm(
        _ value: inout ByteBuffer, type: STUNAttributeType
    ) throws(STUNDecodingError) -> PasswordAlgorithm {
        guard let number = value.readInteger(as: UInt16.self), let length = value.readInteger(as: UInt16.self),
              let parameters = value.readBytes(length: Int(length)) else {
            throw .malformedAttribute(type, "truncated algorithm entry")
        }
        let padding = (4 - Int(length) % 4) % 4
        guard value.readableBytes >= padding else { throw .malformedAttribute(type, "missing parameter padding") }
        value.moveReaderIndex(forwardBy: padding)
        return PasswordAlgorithm(number: number, parameters: parameters)
    }

    /// Writes one attribute (type, length, value, padding) and returns the bytes written.
    @discardableResult
    mutating func writeSTUNAttribute(
        _ attribute: STUNAttribute, transactionID: TransactionID, paddingByte: UInt8 = 0
    ) -> Int {
        let start = writerIndex
        writeInteger(attribute.type.rawValue)
        let lengthIndex = writerIndex
        writeInteger(UInt16(0))
        let valueStart = writerIndex
        writeSTUNAttributeValue(attribute, transactionID: transactionID)
        let valueLength = writerIndex - valueStart
        setInteger(UInt16(truncatingIfNeeded: valueLength), at: lengthIndex)
        let padding = (4 - valueLength % 4) % 4
        if padding > 0 { writeRepeatingByte(paddingByte, count: padding) }
        return writerIndex - start
    }

    private mutating func writeAddress(_ address: TransportAddress, xorWith transactionID: TransactionID?) {
        writeInteger(UInt8(0))
        writeInteger(address.ip.family.rawValue)
        let cookie = STUNMessage.magicCookie
        writeInteger(transactionID == nil ? address.port : address.port ^ UInt16(truncatingIfNeeded: cookie >> 16))
        switch address.ip {
        case .v4(let ip):
            writeInteger(transactionID == nil ? ip : ip ^ cookie)
        case .v6(let high, let low):
            if let id = transactionID {
                writeInteger(high ^ (UInt64(cookie) << 32 | UInt64(id.high)))
                writeInteger(low ^ (UInt64(id.middle) << 32 | UInt64(id.low)))
            } else {
                writeInteger(high)
                writeInteger(low)
            }
        }
    }

    private mutating func writeErrorCode(_ error: STUNErrorCode, family: AddressFamily?) {
        let code = min(max(error.code, 300), 699)
        let word = UInt32(family?.rawValue ?? 0) << 24 | UInt32(code / 100) << 8 | UInt32(code % 100)
        writeInteger(word)
        writeString(error.reason.utf8Prefix(TextLimit.longText))
    }

    private mutating func writePasswordAlgorithm(_ algorithm: PasswordAlgorithm) {
        writeInteger(algorithm.number)
        writeInteger(UInt16(truncatingIfNeeded: algorithm.parameters.count))
        writeBytes(algorithm.parameters)
        writeRepeatingByte(0, count: (4 - algorithm.parameters.count % 4) % 4)
    }

    private mutating func writeSTUNAttributeValue(_ attribute: STUNAttribute, transactionID: TransactionID) {
        switch attribute {
        case .mappedAddress(let a), .responseAddress(let a), .sourceAddress(let a), .changedAddress(let a),
             .alternateServer(let a), .responseOrigin(let a), .otherAddress(let a):
            writeAddress(a, xorWith: nil)
        case .xorMappedAddress(let a), .xorPeerAddress(let a), .xorRelayedAddress(let a):
            writeAddress(a, xorWith: transactionID)
        case .username(let s):
            writeString(s.utf8Prefix(TextLimit.username))
        case .realm(let s), .nonce(let s), .software(let s):
            writeString(s.utf8Prefix(TextLimit.longText))
        case .alternateDomain(let s):
            writeString(s.utf8Prefix(TextLimit.alternateDomain))
        case .userhash(let b), .messageIntegrity(let b), .messageIntegritySHA256(let b):
            writeBytes(b)
        case .unknown(_, let b):
            writeBytes(b.prefix(Int(UInt16.max)))
        case .fingerprint(let v), .lifetime(let v):
            writeInteger(v)
        case .errorCode(let e):
            writeErrorCode(e, family: nil)
        case .addressErrorCode(let family, let e):
            writeErrorCode(e, family: family)
        case .passwordAlgorithms(let list):
            for algorithm in list { writePasswordAlgorithm(algorithm) }
        case .passwordAlgorithm(let algorithm):
            writePasswordAlgorithm(algorithm)
        case .unknownAttributes(let types):
            for type in types { writeInteger(type.rawValue) }
        case .changeRequest(let flags):
            writeInteger(flags.rawValue)
        case .responsePort(let port), .channelNumber(let port):
            writeInteger(UInt32(port) << 16)
        case .padding(let count):
            writeRepeatingByte(0, count: max(0, min(count, Int(UInt16.max) - 3)))
        case .data(let buffer):
            var copy = buffer
            writeBuffer(&copy)
        case .requestedAddressFamily(let family), .additionalAddressFamily(let family):
            writeInteger(UInt32(family.rawValue) << 24)
        case .evenPort(let reserveNext):
            writeInteger(reserveNext ? UInt8(0x80) : 0)
        case .requestedTransport(let proto):
            writeInteger(UInt32(proto) << 24)
        case .dontFragment:
            break
        case .reservationToken(let token):
            writeInteger(token)
        case .connectionID(let id):
            writeInteger(id)
        case .icmp(let info):
            writeInteger(UInt16(0))
            writeInteger(info.type)
            writeInteger(info.code)
            writeInteger(info.errorData)
        }
    }
}

extension String {
    /// The longest prefix of whole characters whose UTF-8 form fits in `limit` bytes.
    func utf8Prefix(_ limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var result = ""
        var used = 0
        for character in self {
            let size = character.utf8.count
            if used + size > limit { break }
            result.append(character)
            used += size
        }
        return result
    }
}
