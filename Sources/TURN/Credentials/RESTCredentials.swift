import Crypto
import STUN

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Time-limited credentials derived from a shared secret: the "TURN REST API" scheme
/// (draft-uberti-behave-turn-rest, coturn's `use-auth-secret` / `static-auth-secret`).
///
/// The username is `EXPIRY:USER` or just `EXPIRY`, EXPIRY in Unix seconds, and the password is
/// base64(HMAC-SHA1(secret, username)). A web application that knows the secret hands out such credentials
/// without telling the relay about each user, and they stop working by themselves. Several secrets may be in force
/// at once so a secret can be rotated without cutting off credentials issued under the old one: a username then
/// has one candidate key per secret.
public struct RESTCredentials: CredentialStore {
    public let secrets: [String]

    public init(secrets: [String]) {
        self.secrets = secrets
    }

    /// One key per secret while EXPIRY lies in the future; none once it has passed or when the part before the
    /// first `:` is not a decimal integer (so static usernames fall through to other stores untouched).
    public func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
        guard let expiry = RESTCredentials.expiry(of: username), expiry > unixTime else { return [] }
        return secrets.map { secret in
            .longTerm(username: username, realm: realm,
                      password: RESTCredential.password(secret: secret, username: username), algorithm: algorithm)
        }
    }

    /// REST usernames carry an expiry and are never listed anywhere, so a USERHASH cannot be reversed.
    public func username(userhash: [UInt8], realm: String) -> String? { nil }

    /// The EXPIRY of `EXPIRY:USER` or `EXPIRY`, when it is digits only (`Int64` alone would also take a sign).
    static func expiry(of username: String) -> Int64? {
        let field = username.utf8.prefix { $0 != UInt8(ascii: ":") }
        guard !field.isEmpty, field.count <= 18,
              field.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return field.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }
}

/// A freshly issued REST credential, as handed to a browser in `RTCIceServer` (`username`, `credential`) together
/// with its lifetime.
public struct RESTCredential: Sendable, Equatable, Codable {
    /// `EXPIRY:USER`, or `EXPIRY` when no user was given.
    public var username: String
    /// base64(HMAC-SHA1(secret, username)).
    public var password: String
    /// Seconds the credential stays valid from when it was issued.
    public var ttl: Int

    public init(username: String, password: String, ttl: Int) {
        self.username = username
        self.password = password
        self.ttl = ttl
    }

    /// Issues a credential valid for `ttl` seconds from `unixTime`. An empty `user` is treated as none, so the
    /// username never ends in a bare `:`; an absurd `ttl` saturates rather than trapping.
    /// With `session`, the username is `EXPIRY:USER:SESSION`, bound to a signaling session (a `:` inside USER is
    /// written `%3A` so the three fields stay apart); a relay checks it with the secret alone, like any other.
    public static func generate(secret: String, user: String?, session: String? = nil, ttl: Int,
                                unixTime: Int64) -> RESTCredential {
        let (sum, overflow) = unixTime.addingReportingOverflow(Int64(ttl))
        let expiry = overflow ? (ttl > 0 ? Int64.max : Int64.min) : sum
        let username: String
        if let session, !session.isEmpty {
            let name = (user ?? "").split(separator: ":", omittingEmptySubsequences: false).joined(separator: "%3A")
            username = "\(expiry):\(name):\(session)"
        } else if let user, !user.isEmpty {
            username = "\(expiry):\(user)"
        } else {
            username = "\(expiry)"
        }
        return RESTCredential(username: username, password: password(secret: secret, username: username), ttl: ttl)
    }

    /// The password the scheme derives for `username` under `secret`; what the relay recomputes on each request.
    public static func password(secret: String, username: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(username.utf8),
                                                          using: SymmetricKey(data: Array(secret.utf8)))
        return Data(mac).base64EncodedString()
    }
}
