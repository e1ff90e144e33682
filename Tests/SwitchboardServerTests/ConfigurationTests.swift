import Foundation
import STUN
import EdgeSupport
import SwitchboardApp
import XCTest

final class ConfigurationTests: XCTestCase {
    func testDefaultsFollowTheCommandLineContract() throws {
        let c = try ConfigurationSources.load(file: nil, environment: [:], flags: [:])
        XCTAssertEqual(c.listenIP, .v4(0))
        XCTAssertEqual(c.stunPort, 3478)
        XCTAssertEqual(c.tlsPort, 5349)
        XCTAssertEqual(c.httpPort, 8080)
        XCTAssertEqual(c.adminPort, 8081)
        XCTAssertEqual(c.relayPorts, 49152...65535)
        XCTAssertEqual(c.realm, "switchboard")
        XCTAssertNil(c.alternateIP)
    }

    func testFlagsBeatEnvironmentWhichBeatsTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID()).toml")
        try """
            stun-port = 4000
            http_port = 9000
            realm = "from-file"
            user = ["alice:one", "bob:two:with:colons"]
            relay-ports = "50000-50100"
            """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let c = try ConfigurationSources.load(
            file: file.path,
            environment: ["SWITCHBOARD_STUN_PORT": "4001", "SWITCHBOARD_REALM": "from-env", "SWITCHBOARD_AUTH_SECRET": "s1,s2"],
            flags: ["stun-port": ["4002"]])
        XCTAssertEqual(c.stunPort, 4002)
        XCTAssertEqual(c.httpPort, 9000)
        XCTAssertEqual(c.realm, "from-env")
        XCTAssertEqual(c.users, [.init(name: "alice", password: "one"), .init(name: "bob", password: "two:with:colons")])
        XCTAssertEqual(c.authSecrets, ["s1", "s2"])
        XCTAssertEqual(c.relayPorts, 50000...50100)
    }

    func testBadValuesAreRefusedWithTheirSourceAndKey() {
        func error(_ flags: [String: [String]]) -> ConfigurationError? {
            do {
                _ = try ConfigurationSources.load(file: nil, environment: [:], flags: flags)
                return nil
            } catch {
                return error as? ConfigurationError
            }
        }
        XCTAssertEqual(error(["stun-port": ["70000"]])?.key, "stun-port")
        XCTAssertEqual(error(["listen-ip": ["nope"]])?.key, "listen-ip")
        XCTAssertEqual(error(["relay-ports": ["9-3"]])?.key, "relay-ports")
        XCTAssertEqual(error(["user": ["nocolon"]])?.key, "user")
        XCTAssertEqual(error(["log-format": ["xml"]])?.key, "log-format")
        XCTAssertEqual(error(["listen-ip": ["127.0.0.1"], "alternate-ip": ["::1"]])?.key, "alternate-ip")
        XCTAssertEqual(error(["alternate-ip": ["127.0.0.2"]])?.key, "listen-ip", "RFC 5780 needs a concrete primary IP")
        XCTAssertEqual(error(["stun-port": ["1"]])?.source, nil)
    }

    func testHardeningSettingsParseAndRefuseBadValues() throws {
        let c = try ConfigurationSources.load(file: nil, environment: ["SWITCHBOARD_ALLOWED_ORIGIN": "https://a.example,http://localhost:8080"],
                                              flags: ["public-host": ["Turn.Example.com", "2001:db8::1"], "http-request-timeout": ["2.5"],
                                                      "max-connections-per-ip": ["50"], "user-relay-share": ["25"]])
        XCTAssertEqual(c.publicHosts, ["turn.example.com", "[2001:db8::1]"])
        XCTAssertEqual(c.allowedOrigins, ["https://a.example", "http://localhost:8080"])
        XCTAssertEqual(c.httpLimits.requestTimeout, 2.5)
        XCTAssertEqual(c.maxConnectionsPerIP, 50)
        XCTAssertEqual(c.userRelayShare, 25)
        for (key, value) in [("public-host", "a:b:c"), ("allowed-origin", "evil.example"), ("http-request-timeout", "-1"),
                             ("user-relay-share", "101"), ("http-max-header-bytes", "10")] {
            XCTAssertThrowsError(try ConfigurationSources.load(file: nil, environment: [:], flags: [key: [value]])) { error in
                XCTAssertEqual((error as? ConfigurationError)?.key, key)
            }
        }
    }

    func testUnknownFileKeyIsAnError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID()).toml")
        try "stun-prot = 1\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try ConfigurationSources.load(file: file.path, environment: [:], flags: [:])) { error in
            XCTAssertEqual((error as? ConfigurationError)?.key, "stun-prot")
        }
    }
}
