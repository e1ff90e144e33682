import NIOCore

extension BindingResponder {
    /// The usual answer, an RFC 8489 success with XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE and
    /// FINGERPRINT, written with plain stores into one reserved span. The general encoder pays ByteBuffer's
    /// exclusivity check on its storage for every integer it writes: about 25 per response, 5 % of a STUN server's
    /// CPU in `perf`. `BindingFastPathTests` holds this to the general encoder's bytes.
    func writeSuccess(transactionID id: TransactionID, mapped: TransportAddress, origin: TransportAddress?,
                      other: TransportAddress?, into out: inout ByteBuffer) {
        let maximum = STUNMessage.headerLength + 3 * 24 + softwareAttribute.count + 8
        softwareAttribute.withUnsafeBytes { software in
            _ = out.writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { raw in
                var writer = RawSTUNWriter(raw)
                writer.put(STUNMessageType.bindingSuccess.wireValue)
                writer.put(UInt16(0))
                writer.put(STUNMessage.magicCookie)
                writer.put(id.high)
                writer.put(id.middle)
                writer.put(id.low)
                writer.putAddress(.xorMappedAddress, mapped, xorWith: id)
                if let origin { writer.putAddress(.responseOrigin, origin, xorWith: nil) }
                if let other { writer.putAddress(.otherAddress, other, xorWith: nil) }
                writer.put(software)
                let fingerprintOffset = writer.offset
                writer.set(UInt16(truncatingIfNeeded: fingerprintOffset + 8 - STUNMessage.headerLength), at: 2)
                let crc = Fingerprint.compute(message: UnsafeRawBufferPointer(raw), upTo: fingerprintOffset)
                writer.put(STUNAttributeType.fingerprint.rawValue)
                writer.put(UInt16(4))
                writer.put(crc)
                return writer.offset
            }
        }
    }
}

/// Big-endian stores into a span the caller sized.
private struct RawSTUNWriter {
    let raw: UnsafeMutableRawBufferPointer
    private(set) var offset = 0

    init(_ raw: UnsafeMutableRawBufferPointer) {
        self.raw = raw
    }

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    func set<T: FixedWidthInteger>(_ value: T, at position: Int) {
        raw.storeBytes(of: value.bigEndian, toByteOffset: position, as: T.self)
    }

    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        (raw.baseAddress! + offset).copyMemory(from: base, byteCount: bytes.count)
        offset += bytes.count
    }

    /// An address attribute (RFC 8489 §14.1/14.2): XOR-ed with the cookie and transaction ID when `xorWith` is given.
    mutating func putAddress(_ type: STUNAttributeType, _ address: TransportAddress, xorWith id: TransactionID?) {
        let cookie = STUNMessage.magicCookie
        put(type.rawValue)
        put(UInt16(address.ip.family == .ipv4 ? 8 : 20))
        put(UInt8(0))
        put(address.ip.family.rawValue)
        put(id == nil ? address.port : address.port ^ UInt16(truncatingIfNeeded: cookie >> 16))
        switch address.ip {
        case .v4(let ip):
            put(id == nil ? ip : ip ^ cookie)
        case .v6(let high, let low):
            if let id {
                put(high ^ (UInt64(cookie) << 32 | UInt64(id.high)))
                put(low ^ (UInt64(id.middle) << 32 | UInt64(id.low)))
            } else {
                put(high)
                put(low)
            }
        }
    }
}
