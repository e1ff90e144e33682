import Foundation
import JWTKit
import Signaling

/// Checks signaling tokens (JWT, HS256 with a shared secret or ES256 with a public key) and turns them into an
/// `Identity`. With no key configured the server runs open and every caller gets a random user id.
struct SignalingTokenVerifier: Sendable {
    private let keys: JWTKeyCollection?

    var isOpen: Bool { keys == nil }

    init(secret: String?, publicKeyPEM: String?) async throws {
        guard secret != nil || publicKeyPEM != nil else {
            keys = nil
            return
        }
        let keys = JWTKeyCollection()
        if let secret {
            // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
            guard secret.utf8.count >= 32 else { throw SignalingKeyError.secretTooShort }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let publicKeyPEM {
            await keys.add(ecdsa: try ES256PublicKey(pem: publicKeyPEM))
        }
        self.keys = keys
    }

    /// `verify` as a value, for closures where typed throws are not inferred.
    func check(_ token: String?) async -> Result<Identity?, SignalingCloseReason> {
        do {
            return .success(try await verify(token))
        } catch {
            return .failure(error)
        }
    }

    /// nil when the server is open (any token is ignored). Throws `unauthorized` or `tokenExpired`.
    func verify(_ token: String?, now: Date = Date()) async throws(SignalingCloseReason) -> Identity? {
        guard let keys else { return nil }
        guard let token, !token.isEmpty, token.utf8.count <= 8 * 1024 else { throw .unauthorized }
        let claims: SignalingClaims
        do {
            claims = try await keys.verify(token, as: SignalingClaims.self, iteratingKeys: true)
        } catch {
            throw .unauthorized
        }
        // `exp` is checked here rather than in the payload so that an expired token gets its own close code.
        guard claims.exp.value > now else { throw .tokenExpired }
        let subject = claims.sub.value
        guard !subject.isEmpty, subject.utf8.count <= 256 else { throw .unauthorized }
        return Identity(user: subject, rooms: claims.rooms?.rooms ?? .any, expiry: claims.exp.value.timeIntervalSince1970)
    }
}

enum SignalingKeyError: Error, CustomStringConvertible {
    case secretTooShort

    var description: String { "--jwt-secret must be at least 32 bytes long (RFC 7518 §3.2)" }
}

/// The claims of a signaling token: `sub`, `exp` and optional `rooms` (a list of room names, or `"*"`).
struct SignalingClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var rooms: RoomsClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

struct RoomsClaim: Codable, Sendable {
    var rooms: Identity.Rooms

    init(rooms: Identity.Rooms) { self.rooms = rooms }

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let star = try? container.decode(String.self), star == "*" {
            rooms = .any
        } else {
            rooms = .only(Set(try container.decode([String].self)))
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch rooms {
        case .any: try container.encode("*")
        case .only(let names): try container.encode(names.sorted())
        }
    }
}
