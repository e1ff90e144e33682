import Crypto
import STUN

/// Users from configuration (`--user NAME:PASSWORD`).
///
/// A password written as `0x` followed by 32 hex digits is not a password but a precomputed MD5 long-term key,
/// MD5(`name:realm:password`), as coturn's `turnadmin -k` prints it, so operators need not keep plain passwords in
/// configuration. Such a key was computed for one realm — it must be the configured realm, since the key cannot be
/// recomputed for another — and it works only with the MD5 password algorithm: a client that negotiates SHA-256
/// gets no key for that user and fails authentication. When a name appears twice, the last entry wins.
public struct StaticCredentials: CredentialStore {
    private enum Secret: Sendable {
        case password(String)
        case md5Key([UInt8])
    }

    private let users: [String: Secret]

    public init(users: [(name: String, password: String)]) {
        var table: [String: Secret] = [:]
        for (name, password) in users {
            table[name] = StaticCredentials.precomputedKey(password).map(Secret.md5Key) ?? .password(password)
        }
        self.users = table
    }

    public func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
        switch users[username] {
        case .password(let password)?:
            return [.longTerm(username: username, realm: realm, password: password, algorithm: algorithm)]
        case .md5Key(let key)? where algorithm == .md5:
            return [IntegrityKey(bytes: key)]
        default:
            return []
        }
    }

    /// Hashes every configured name with the asked realm. Static user lists are short and USERHASH is rare, so this
    /// is computed at lookup rather than cached per realm.
    public func username(userhash: [UInt8], realm: String) -> String? {
        guard userhash.count == SHA256.byteCount else { return nil }
        return users.keys.sorted().first { Array(SHA256.hash(data: Array("\($0):\(realm)".utf8))) == userhash }
    }

    /// `0x` + 32 hex digits, exactly; anything else is an ordinary password.
    private static func precomputedKey(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 34, utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x") else { return nil }
        var key: [UInt8] = []
        key.reserveCapacity(16)
        var index = 2
        while index < utf8.count {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
            key.append(high << 4 | low)
            index += 2
        }
        return key
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
