/// Secrets the server makes for itself (a TURN REST secret when none is configured, the nonce key shared by
/// every TURN core), from the system's cryptographic generator.
package enum RandomSecret {
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// `count` random bytes as lower-case hex.
    package static func hex(bytes count: Int) -> String {
        bytes(count).map { byte in byte < 0x10 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
    }
}
