import STUN

/// Where long-term credentials come from (RFC 8489 §9.2).
///
/// A store hands out keys, not passwords, so the authenticator never needs to know whether a user was configured
/// with a password, a precomputed key or a REST shared secret. It is asked on every authenticated request, with
/// the time passed in, so that expiry is decided by the core's injected clock.
public protocol CredentialStore: Sendable {
    /// Candidate keys for this username: several when several REST secrets are configured (for rotation), none when
    /// the user is unknown or the credential has expired. The authenticator accepts the request if any one of them
    /// verifies the MESSAGE-INTEGRITY.
    func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey]

    /// For USERHASH (RFC 8489 §14.4: SHA-256 of `username:realm`): the username, when the store can reverse it.
    func username(userhash: [UInt8], realm: String) -> String?
}

/// Several stores behind one: static users and REST secrets side by side.
///
/// Keys from every store are offered, in store order, rather than stopping at the first store that knows the name:
/// a static user could be named like a REST username, and the integrity check, not the name, decides which applies.
public struct CompositeCredentialStore: CredentialStore {
    public var stores: [any CredentialStore]

    public init(_ stores: [any CredentialStore]) {
        self.stores = stores
    }

    public func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
        stores.flatMap { $0.keys(username: username, realm: realm, algorithm: algorithm, unixTime: unixTime) }
    }

    /// The first store that can reverse the hash wins.
    public func username(userhash: [UInt8], realm: String) -> String? {
        for store in stores {
            if let name = store.username(userhash: userhash, realm: realm) { return name }
        }
        return nil
    }
}
