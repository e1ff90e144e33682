import Crypto
import STUN

/// Who sent a request, once long-term authentication (RFC 8489 §9.2.4) succeeded, and how to sign the answer.
public struct AuthenticatedUser: Sendable, Equatable {
    public var username: String
    public var key: IntegrityKey
    /// Responses carry the integrity attribute the request used.
    public var algorithm: IntegrityAlgorithm
}

/// The long-term credential mechanism: realm, nonce, password algorithm negotiation, USERHASH, integrity check.
public struct LongTermAuthenticator: Sendable {
    public enum Outcome: Sendable {
        case authenticated(AuthenticatedUser)
        /// Answer with this error; `challenge` adds REALM, NONCE and PASSWORD-ALGORITHMS (401 and 438 do).
        case rejected(STUNErrorCode, challenge: Bool)
    }

    public static let supportedAlgorithms: [PasswordAlgorithm] = [.sha256, .md5]

    public var realm: String
    public var credentials: any CredentialStore
    public var nonces: NonceIssuer

    public init(realm: String, credentials: any CredentialStore, nonces: NonceIssuer) {
        self.realm = realm
        self.credentials = credentials
        self.nonces = nonces
    }

    public func authenticate(_ request: STUNMessage, from client: TransportAddress, unixTime: Int64) -> Outcome {
        let hasSHA1 = request.contains(.messageIntegrity)
        let hasSHA256 = request.contains(.messageIntegritySHA256)
        guard hasSHA1 || hasSHA256 else { return .rejected(.unauthorized, challenge: true) }

        let userhash: [UInt8]? = {
            if case .userhash(let hash)? = request.attribute(.userhash) { return hash }
            return nil
        }()
        guard request.username != nil || userhash != nil, let requestRealm = request.realm, let nonce = request.nonce else {
            return .rejected(STUNErrorCode(code: 400, reason: "USERNAME or USERHASH, REALM and NONCE are required"), challenge: false)
        }
        switch nonces.validate(nonce, for: client, unixTime: unixTime) {
        case .valid: break
        case .stale, .invalid: return .rejected(.staleNonce, challenge: true)
        }
        guard requestRealm == realm else { return .rejected(.unauthorized, challenge: true) }

        // Password algorithm negotiation (RFC 8489 §9.2.4): both attributes or neither; the list must be ours.
        var algorithm = PasswordAlgorithm.md5
        let offered = request.attribute(.passwordAlgorithms)
        let chosen = request.attribute(.passwordAlgorithm)
        switch (offered, chosen) {
        case (nil, nil):
            break
        case (.passwordAlgorithms(let list)?, .passwordAlgorithm(let pick)?):
            guard list == LongTermAuthenticator.supportedAlgorithms, list.contains(pick) else {
                return .rejected(STUNErrorCode(code: 400, reason: "PASSWORD-ALGORITHMS does not match the server's"), challenge: false)
            }
            algorithm = pick
        default:
            return .rejected(STUNErrorCode(code: 400, reason: "PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM go together"), challenge: false)
        }

        let username: String
        if let name = request.username {
            username = name
        } else if let userhash, let name = credentials.username(userhash: userhash, realm: realm) {
            username = name
        } else {
            return .rejected(.unauthorized, challenge: true)
        }

        let integrity: IntegrityAlgorithm = hasSHA256 ? .sha256 : .sha1
        for key in credentials.keys(username: username, realm: realm, algorithm: algorithm, unixTime: unixTime)
        where request.verifyIntegrity(integrity, key: key) {
            return .authenticated(AuthenticatedUser(username: username, key: key, algorithm: integrity))
        }
        return .rejected(.unauthorized, challenge: true)
    }

    /// REALM, a fresh NONCE and PASSWORD-ALGORITHMS, for 401 and 438 answers.
    public func challenge(for client: TransportAddress, unixTime: Int64) -> [STUNAttribute] {
        [.realm(realm), .nonce(nonces.issue(for: client, unixTime: unixTime)),
         .passwordAlgorithms(LongTermAuthenticator.supportedAlgorithms)]
    }
}
