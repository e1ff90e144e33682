/// The 96-bit transaction id of a STUN message, stored inline so that handling a message allocates nothing.
public struct TransactionID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt32
    public var middle: UInt32
    public var low: UInt32

    public init(high: UInt32, middle: UInt32, low: UInt32) {
        self.high = high
        self.middle = middle
        self.low = low
    }

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 12, "a transaction id has 12 bytes")
        var words: [UInt32] = [0, 0, 0]
        for (index, byte) in bytes.enumerated() {
            words[index / 4] = words[index / 4] << 8 | UInt32(byte)
        }
        self.init(high: words[0], middle: words[1], low: words[2])
    }

    /// A fresh id from the system's random generator, as RFC 8489 §6 asks for.
    public static func random() -> TransactionID {
        var generator = SystemRandomNumberGenerator()
        return TransactionID(high: generator.next(), middle: generator.next(), low: generator.next())
    }

    public var bytes: [UInt8] {
        [high, middle, low].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * $0)) } }
    }

    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 0x10 ? "0" + hex : hex
        }.joined()
    }
}
