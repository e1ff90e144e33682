import STUN
import TURN
import XCTest

final class CredentialStoreTests: XCTestCase {
    /// A store that knows one name and records what it was asked.
    private struct FixedStore: CredentialStore {
        var name: String
        var keys: [IntegrityKey]
        var hash: [UInt8]?

        func keys(username: String, realm: String, algorithm: PasswordAlgorithm, unixTime: Int64) -> [IntegrityKey] {
            username == name ? keys : []
        }

        func username(userhash: [UInt8], realm: String) -> String? {
            userhash == hash ? name : nil
        }
    }

    private let a = IntegrityKey(bytes: [0xA])
    private let b = IntegrityKey(bytes: [0xB])
    private let c = IntegrityKey(bytes: [0xC])

    func testCompositeOffersEveryStoresKeysInStoreOrder() {
        let store = CompositeCredentialStore([
            FixedStore(name: "alice", keys: [a]),
            FixedStore(name: "bob", keys: [c]),
            FixedStore(name: "alice", keys: [b, c]),
        ])
        XCTAssertEqual(store.keys(username: "alice", realm: "r", algorithm: .md5, unixTime: 0), [a, b, c])
        XCTAssertEqual(store.keys(username: "bob", realm: "r", algorithm: .md5, unixTime: 0), [c])
    }

    func testCompositeHasNoKeysForAnUnknownUser() {
        let store = CompositeCredentialStore([FixedStore(name: "alice", keys: [a])])
        XCTAssertEqual(store.keys(username: "mallory", realm: "r", algorithm: .md5, unixTime: 0), [])
        XCTAssertEqual(CompositeCredentialStore([]).keys(username: "alice", realm: "r", algorithm: .md5, unixTime: 0), [])
    }

    func testCompositeReversesAUserhashWithTheFirstStoreThatCan() {
        let store = CompositeCredentialStore([
            FixedStore(name: "first", keys: [], hash: nil),
            FixedStore(name: "second", keys: [], hash: [1, 2, 3]),
            FixedStore(name: "third", keys: [], hash: [1, 2, 3]),
        ])
        XCTAssertEqual(store.username(userhash: [1, 2, 3], realm: "r"), "second")
        XCTAssertNil(store.username(userhash: [9], realm: "r"))
    }

    func testStaticUsersAndRESTSecretsWorkSideBySide() {
        let store = CompositeCredentialStore([
            StaticCredentials(users: [(name: "alice", password: "wonderland")]),
            RESTCredentials(secrets: ["north-wind-secret"]),
        ])
        let now: Int64 = 1_700_000_000
        XCTAssertEqual(store.keys(username: "alice", realm: "switchboard", algorithm: .md5, unixTime: now),
                       [.longTerm(username: "alice", realm: "switchboard", password: "wonderland")])
        XCTAssertEqual(store.keys(username: "1700086400:alice", realm: "switchboard", algorithm: .md5, unixTime: now),
                       [.longTerm(username: "1700086400:alice", realm: "switchboard", password: "B4h6iVPKLBEfsWdDRuUeZl3vUbo=")])
        XCTAssertEqual(store.username(userhash: Array(hex: "ab12441563c90f552472abf4c4a2f767059923570522b8b51cd34030f1db536b"),
                                      realm: "switchboard"), "alice")
    }
}

extension Array where Element == UInt8 {
    /// Test vectors are written as hex, as python's hexdigest() prints them.
    init(hex: String) {
        let digits = Array(hex.utf8)
        self = stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}
