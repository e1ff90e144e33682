import NIOCore

extension STUNMessage {
    /// What to add after the attributes when encoding.
    public struct EncodingOptions: Sendable {
        /// Key and algorithms for MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256, appended in that order.
        public var integrityKey: IntegrityKey?
        public var integrityAlgorithms: [IntegrityAlgorithm]
        public var fingerprint: Bool
        /// Value of the bytes that pad attributes to 4 bytes. RFC 8489 lets it be anything; RFC 5769's vectors use 0x20.
        public var paddingByte: UInt8

        /// Held once: a `[.sha1]` literal as the default argument would allocate on every response.
        public static let sha1Only: [IntegrityAlgorithm] = [.sha1]

        public init(integrityKey: IntegrityKey? = nil, integrityAlgorithms: [IntegrityAlgorithm] = sha1Only,
                    fingerprint: Bool = false, paddingByte: UInt8 = 0) {
            self.integrityKey = integrityKey
            self.integrityAlgorithms = integrityAlgorithms
            self.fingerprint = fingerprint
            self.paddingByte = paddingByte
        }
    }

    /// Appends the encoded message to `buffer`. Attributes are written as they are in `attributes`;
    /// integrity and fingerprint from `options` follow them.
    public func encode(into buffer: inout ByteBuffer, options: EncodingOptions = .init()) {
        let start = buffer.writerIndex
        buffer.writeInteger(type.wireValue)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(cookie)
        buffer.writeInteger(transactionID.high)
        buffer.writeInteger(transactionID.middle)
        buffer.writeInteger(transactionID.low)
        for attribute in attributes {
            buffer.writeSTUNAttribute(attribute, transactionID: transactionID, paddingByte: options.paddingByte)
        }
        STUNMessage.finish(&buffer, messageStart: start, transactionID: transactionID, options: options)
    }

    /// Sets the header length and appends integrity and fingerprint attributes to a message whose header starts at
    /// `messageStart`. Shared by `encode` and by responders that write attributes straight into a buffer.
    public static func finish(_ buffer: inout ByteBuffer, messageStart start: Int, transactionID: TransactionID,
                              options: EncodingOptions) {
        func setLength(adding extra: Int) {
            // Callers keep what they encode within the 16-bit length (a Data indication's payload is bounded by the
            // TURN core); a wrapped length would let the reader of a stream take the rest as messages of its own.
            assert(buffer.writerIndex - start - headerLength + extra <= Int(UInt16.max), "STUN message too long")
            buffer.setInteger(UInt16(truncatingIfNeeded: buffer.writerIndex - start - headerLength + extra), at: start + 2)
        }
        if let key = options.integrityKey {
            for algorithm in options.integrityAlgorithms {
                let offset = buffer.writerIndex - start
                let attributeLength = algorithm == .sha1 ? 24 : 36
                setLength(adding: attributeLength)
                // The slice must be gone before the next write, or that write copies the whole buffer.
                let mac = { integrityHMAC(algorithm, key: key, message: buffer.getSlice(at: start, length: offset)!, offset: offset) }()
                buffer.writeSTUNAttribute(algorithm == .sha1 ? .messageIntegrity(mac) : .messageIntegritySHA256(mac),
                                          transactionID: transactionID)
            }
        }
        if options.fingerprint {
            let offset = buffer.writerIndex - start
            setLength(adding: 8)
            let messageOffset = start - buffer.readerIndex
            let fingerprint = buffer.withUnsafeReadableBytes { readable in
                Fingerprint.compute(message: UnsafeRawBufferPointer(rebasing: readable[messageOffset...]), upTo: offset)
            }
            buffer.writeSTUNAttribute(.fingerprint(fingerprint), transactionID: transactionID)
        }
        setLength(adding: 0)
    }

    /// Convenience for tests and clients: the encoded bytes in a fresh buffer.
    public func encoded(options: EncodingOptions = .init()) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        encode(into: &buffer, options: options)
        return buffer
    }

    /// The same message without MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, ready to re-encode.
    public var strippingIntegrityAndFingerprint: STUNMessage {
        var copy = STUNMessage(type: type, transactionID: transactionID, cookie: cookie)
        copy.attributes = attributes.filter {
            $0.type != .messageIntegrity && $0.type != .messageIntegritySHA256 && $0.type != .fingerprint
        }
        return copy
    }
}
