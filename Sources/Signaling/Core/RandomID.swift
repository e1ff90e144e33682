/// Unguessable identifiers: 128 random bits as 32 hex digits, from the generator the caller owns (the core's is
/// injected, so tests can make its ids deterministic).
public enum RandomID {
    public static func make(using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    /// From the system's cryptographic generator.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(using: &generator)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
