import Crypto
import STUN

/// Stateless nonces (RFC 8489 §9.2): a nonce carries its own expiry and an HMAC over the expiry and the client's
/// IP address, so the server stores nothing per challenge and a nonce is useless from another host. The port is
/// left out: an RFC 6062 data connection comes from a new port, and clients (coturn's among them) sign its
/// ConnectionBind with the nonce of their control connection, without a challenge round first.
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

    /// Keyed once: every challenge and every authenticated request computes a MAC under this fixed key.
    private let key: HMACKey<SHA256>
    public var lifetime: UInt32

    public init(secret: [UInt8]? = nil, lifetime: UInt32 = 3600) {
        var random = SystemRandomNumberGenerator()
        key = HMACKey(secret ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
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

    /// 16 hex digits of HMAC-SHA256 over the expiry, `|`, and the client's IP address in binary (family, address).
    private func mac(expiry: String, client: TransportAddress) -> String {
        var computation = key.start()
        var expiryText = expiry
        expiryText.withUTF8 { computation.update(UnsafeRawBufferPointer($0)) }
        // Bytes, not a tuple: a tuple's padding is uninitialised and would change the MAC from call to call.
        var address: [UInt8] = [UInt8(ascii: "|")]
        address.reserveCapacity(18)
        switch client.ip {
        case .v4(let value):
            address.append(4)
            withUnsafeBytes(of: value.bigEndian) { address.append(contentsOf: $0) }
        case .v6(let high, let low):
            address.append(6)
            withUnsafeBytes(of: high.bigEndian) { address.append(contentsOf: $0) }
            withUnsafeBytes(of: low.bigEndian) { address.append(contentsOf: $0) }
        }
        address.withUnsafeBytes { computation.update($0) }
        let code = computation.finalize()
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            hex[2 * index] = digits[Int(code[index] >> 4)]
            hex[2 * index + 1] = digits[Int(code[index] & 0x0F)]
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
