import Crypto
import STUN

/// Users from configuration. A password written as `0x` and 32 hex digits is a precomputed MD5 long-term key
/// (what coturn's `turnadmin -k` prints); it was computed for one realm, the configured one, and works only with
/// the MD5 password algorithm.
public struct StaticCredentials: CredentialStore {
    private enum Secret: Sendable {
        case password(String)
        case md5Key([UInt8])
    }

    private let users: [String: Secret]

    public init(users: [(name: String, password: String)]) {
        var table: [String: Secret] = [:]
        for (name, password) in users {
            if let key = StaticCredentials.precomputedKey(password) {
                table[name] = .md5Key(key)
            } else {
                table[name] = .password(password)
            }
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

    public func username(userhash: [UInt8], realm: String) -> String? {
        users.keys.first { Array(SHA256.hash(data: Array("\($0):\(realm)".utf8))) == userhash }
    }

    private static func precomputedKey(_ text: String) -> [UInt8]? {
        guard text.hasPrefix("0x"), text.utf8.count == 34 else { return nil }
        var bytes: [UInt8] = []
        var index = text.index(text.startIndex, offsetBy: 2)
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
