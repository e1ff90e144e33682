import Crypto
import Foundation
import NIOCore

/// The `Switchboard-Signature` header: `v1=HEX(HMAC-SHA256(secret, timestamp + "." + body))`, one entry per
/// configured secret, comma-separated, so that a receiver holding either the old or the new secret verifies
/// while secrets are rotated.
public enum WebhookSignature {
    public static let scheme = "v1"

    /// The header value for `body` sent at `timestamp` (the `Switchboard-Timestamp` header, Unix seconds).
    public static func header(timestamp: String, body: some Collection<UInt8>, secrets: [String]) -> String {
        let message = Array("\(timestamp).".utf8) + Array(body)
        return secrets.map { "\(scheme)=\(sign(message, secret: $0))" }.joined(separator: ",")
    }

    /// Whether `header` holds a `v1` entry made with `secret` over this timestamp and body (what a receiver does).
    public static func verify(header: String, timestamp: String, body: some Collection<UInt8>, secret: String) -> Bool {
        let expected = Array(sign(Array("\(timestamp).".utf8) + Array(body), secret: secret).utf8)
        return header.split(separator: ",").contains { entry in
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == scheme else { return false }
            return constantTimeEqual(Array(parts[1].utf8), expected)
        }
    }

    private static func sign(_ message: [UInt8], secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        return hex(code)
    }

    /// Lower-case hex. By hand: `String(format:)` per byte was the largest cost of a delivery after the request.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
