import STUN
import TURN
import XCTest

final class StaticCredentialsTests: XCTestCase {
    private let store = StaticCredentials(users: [
        (name: "alice", password: "wonderland"),
        // turnadmin -k -u bob -r switchboard -p hunter2
        (name: "bob", password: "0x70316adb4370b40f212a30943c652802"),
    ])

    func testPasswordUserGetsTheMD5LongTermKey() {
        // hashlib.md5(b"alice:switchboard:wonderland").hexdigest()
        XCTAssertEqual(store.keys(username: "alice", realm: "switchboard", algorithm: .md5, unixTime: 0),
                       [IntegrityKey(bytes: Array(hex: "082a20c7633a69a072f975976735e18f"))])
    }

    func testPasswordUserGetsTheSHA256LongTermKeyWhenNegotiated() {
        // hashlib.sha256(b"alice:switchboard:wonderland").hexdigest()
        XCTAssertEqual(store.keys(username: "alice", realm: "switchboard", algorithm: .sha256, unixTime: 0),
                       [IntegrityKey(bytes: Array(hex: "00e956bc43cbd962ec960f9f395ebcd8ec2229e6c387f32908dcbd66eec9cf55"))])
    }

    func testKeyDependsOnTheRealmAsked() {
        let other = StaticCredentials(users: [(name: "bob", password: "hunter2")])
        // hashlib.md5(b"bob:other:hunter2").hexdigest()
        XCTAssertEqual(other.keys(username: "bob", realm: "other", algorithm: .md5, unixTime: 0),
                       [IntegrityKey(bytes: Array(hex: "d2c6cb3de2bd579e2da8bac49b0ff629"))])
    }

    func testPrecomputedKeyIsUsedAsIsWithMD5() {
        // Equal to what the password "hunter2" would give in realm "switchboard".
        XCTAssertEqual(store.keys(username: "bob", realm: "switchboard", algorithm: .md5, unixTime: 0),
                       [.longTerm(username: "bob", realm: "switchboard", password: "hunter2", algorithm: .md5)])
    }

    func testPrecomputedKeyIsNotOfferedForSHA256() {
        XCTAssertEqual(store.keys(username: "bob", realm: "switchboard", algorithm: .sha256, unixTime: 0), [])
    }

    func testPrecomputedKeyAcceptsUppercaseHex() {
        let upper = StaticCredentials(users: [(name: "bob", password: "0x70316ADB4370B40F212A30943C652802")])
        XCTAssertEqual(upper.keys(username: "bob", realm: "switchboard", algorithm: .md5, unixTime: 0),
                       store.keys(username: "bob", realm: "switchboard", algorithm: .md5, unixTime: 0))
    }

    func testAlmostKeyShapedPasswordsAreOrdinaryPasswords() {
        for password in ["0x70316adb4370b40f212a30943c65280",     // 31 digits
                         "0x70316adb4370b40f212a30943c6528021",   // 33 digits
                         "0x70316adb4370b40f212a30943c65280g",    // not hex
                         "0x+0316adb4370b40f212a30943c652802",    // a sign UInt8(_:radix:) would take
                         "0X70316adb4370b40f212a30943c652802"] {  // coturn prints a lowercase x
            let user = StaticCredentials(users: [(name: "bob", password: password)])
            XCTAssertEqual(user.keys(username: "bob", realm: "switchboard", algorithm: .sha256, unixTime: 0),
                           [.longTerm(username: "bob", realm: "switchboard", password: password, algorithm: .sha256)],
                           password)
        }
    }

    func testUnknownUserHasNoKeys() {
        XCTAssertEqual(store.keys(username: "mallory", realm: "switchboard", algorithm: .md5, unixTime: 0), [])
        XCTAssertEqual(store.keys(username: "Alice", realm: "switchboard", algorithm: .md5, unixTime: 0), [])
    }

    func testStaticCredentialsDoNotExpire() {
        XCTAssertEqual(store.keys(username: "alice", realm: "switchboard", algorithm: .md5, unixTime: .max).count, 1)
    }

    func testLaterDuplicateUserWins() {
        let store = StaticCredentials(users: [(name: "alice", password: "old"), (name: "alice", password: "new")])
        XCTAssertEqual(store.keys(username: "alice", realm: "r", algorithm: .md5, unixTime: 0),
                       [.longTerm(username: "alice", realm: "r", password: "new")])
    }

    func testUserhashIsReversedForEveryUserInTheRealmAsked() {
        // hashlib.sha256(b"alice:switchboard").hexdigest(), hashlib.sha256(b"bob:switchboard").hexdigest()
        XCTAssertEqual(store.username(userhash: Array(hex: "ab12441563c90f552472abf4c4a2f767059923570522b8b51cd34030f1db536b"),
                                      realm: "switchboard"), "alice")
        XCTAssertEqual(store.username(userhash: Array(hex: "f28f528792a5307129a200f0915fb4b639ed1a6b77e92afbf499f4fe223ceee5"),
                                      realm: "switchboard"), "bob")
        // hashlib.sha256(b"bob:other").hexdigest()
        XCTAssertEqual(store.username(userhash: Array(hex: "66f065eb72387817bf973eb6cd09df06e446af9e8d6c0835920ad3fac0a3f09e"),
                                      realm: "other"), "bob")
    }

    func testUserhashFromAnotherRealmOrOfAnUnknownUserIsNotReversed() {
        let bobInOtherRealm = Array(hex: "66f065eb72387817bf973eb6cd09df06e446af9e8d6c0835920ad3fac0a3f09e")
        XCTAssertNil(store.username(userhash: bobInOtherRealm, realm: "switchboard"))
        XCTAssertNil(store.username(userhash: [UInt8](repeating: 0, count: 32), realm: "switchboard"))
        XCTAssertNil(store.username(userhash: [], realm: "switchboard"))
    }
}
