import Crypto
import STUN

/// Time-limited credentials from a shared secret (the "TURN REST API" scheme, coturn's `use-auth-secret`):
/// the username is `EXPIRY:USER` (or just `EXPIRY`), EXPIRY in Unix seconds, and the password is
/// base64(HMAC-SHA1(secret, username)). Several secrets may be in force at once, for rotation.
public struct RESTCredentials: CredentialStore {
    public let secrets: [String]

    public init(secrets: [String]) {
        self.secrets = secrets
    }

    public func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
        let expiryText = username.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let expiry = Int64(expiryText), expiry > unixTime else { return [] }
        return secrets.map { secret in
            .longTerm(username: username, realm: realm, password: RESTCredential.password(secret: secret, username: username),
                      algorithm: algorithm)
        }
    }

    /// REST usernames carry an expiry, so they cannot be listed in advance and a USERHASH cannot be reversed.
    public func username(userhash: [UInt8], realm: String) -> String? { nil }
}

/// A generated REST credential, as handed to a browser in `iceServers`.
public struct RESTCredential: Sendable, Equatable, Codable {
    public var username: String
    public var password: String
    public var ttl: Int

    public static func generate(secret: String, user: String?, ttl: Int, unixTime: Int64) -> RESTCredential {
        let expiry = unixTime + Int64(ttl)
        let username = user.map { "\(expiry):\($0)" } ?? "\(expiry)"
        return RESTCredential(username: username, password: password(secret: secret, username: username), ttl: ttl)
    }

    public static func password(secret: String, username: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(username.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return base64(Array(mac))
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var output = ""
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                if position <= chunk.count {
                    output.append(alphabet[Int((value >> (18 - 6 * UInt32(position))) & 0x3F)])
                } else {
                    output.append("=")
                }
            }
            index += 3
        }
        return output
    }
}
