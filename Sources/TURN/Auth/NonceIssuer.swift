import Crypto
import STUN

/// Stateless nonces (RFC 8489 §9.2): a nonce carries its own expiry and an HMAC over the expiry and the client's
/// address, so the server stores nothing per challenge and a nonce is useless from another address.
///
/// Layout: `obMatJos2` + the 24-bit security feature set in base64 (we set "password algorithms" and "username
/// anonymity", so clients may negotiate SHA-256 and send USERHASH) + expiry in hex + 16 hex digits of HMAC.
public struct NonceIssuer: Sendable {
    public static let cookie = "obMatJos2"
    /// Bits 0 and 1 (most significant first) of the feature set: password algorithms, username anonymity.
    public static let features = "wAAA"

    public enum Validity: Equatable, Sendable {
        case valid
        case stale
        case invalid
    }

    private let key: SymmetricKey
    public var lifetime: UInt32

    public init(secret: [UInt8]? = nil, lifetime: UInt32 = 3600) {
        key = secret.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256)
        self.lifetime = lifetime
    }

    public func issue(for client: TransportAddress, unixTime: Int64) -> String {
        let expiry = String(UInt64(max(0, unixTime)) + UInt64(lifetime), radix: 16)
        return NonceIssuer.cookie + NonceIssuer.features + expiry + mac(expiry: expiry, client: client)
    }

    public func validate(_ nonce: String, for client: TransportAddress, unixTime: Int64) -> Validity {
        let prefix = NonceIssuer.cookie + NonceIssuer.features
        guard nonce.hasPrefix(prefix), nonce.utf8.count > prefix.utf8.count + 16 else { return .invalid }
        let body = nonce.dropFirst(prefix.count)
        let expiry = String(body.dropLast(16))
        let received = String(body.suffix(16))
        guard let expiresAt = UInt64(expiry, radix: 16), mac(expiry: expiry, client: client) == received else { return .invalid }
        return expiresAt > UInt64(max(0, unixTime)) ? .valid : .stale
    }

    /// Whether a nonce advertises the password-algorithms feature (RFC 8489 §9.2.4 tells the client to negotiate then).
    public static func advertisesPasswordAlgorithms(_ nonce: String) -> Bool {
        nonce.hasPrefix(cookie + features)
    }

    private func mac(expiry: String, client: TransportAddress) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(expiry)|\(client)".utf8), using: key)
        return code.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 0x10 ? "0" + hex : hex
        }.joined()
    }
}
