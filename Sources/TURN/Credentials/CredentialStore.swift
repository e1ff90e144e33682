import STUN

/// Where long-term credentials come from.
public protocol CredentialStore: Sendable {
    /// Candidate keys for this username: several when several REST secrets are configured (for rotation), none when
    /// the user is unknown or the credential has expired.
    func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey]
    /// For USERHASH (RFC 8489 §14.4, SHA-256 of `username:realm`): the username, when the store can reverse it.
    func username(userhash: [UInt8], realm: String) -> String?
}

/// Asks several stores in order and offers every key any of them has.
public struct CompositeCredentialStore: CredentialStore {
    public var stores: [any CredentialStore]

    public init(_ stores: [any CredentialStore]) {
        self.stores = stores
    }

    public func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
        stores.flatMap { $0.keys(username: username, realm: realm, algorithm: algorithm, unixTime: unixTime) }
    }

    public func username(userhash: [UInt8], realm: String) -> String? {
        for store in stores {
            if let name = store.username(userhash: userhash, realm: realm) { return name }
        }
        return nil
    }
}
