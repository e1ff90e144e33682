import Foundation
import SwitchboardApp
import XCTest

/// The settings table is the one source of flags, environment variables, TOML keys, help, `--print-config` and
/// docs/configuration.md: these tests fail when any of them drifts from it.
final class SettingsTableTests: XCTestCase {
    /// A value each setting accepts; every setting must have one so that a new setting cannot skip the round trip.
    static let samples: [String: [String]] = [
        "listen-ip": ["127.0.0.1"], "stun-port": ["3479"], "tls-port": ["5350"], "http-port": ["8090"],
        "admin-port": ["8091"], "admin-ip": ["127.0.0.3"], "admin-token": ["an-admin-token-0123456789"],
        "alternate-server": ["192.0.2.7:3478"], "https-port": ["8443"], "tls-cert": ["/etc/cert.pem"], "tls-key": ["/etc/key.pem"],
        "self-signed": ["true"], "mux-port": ["4443"], "alternate-ip": ["127.0.0.2"], "alternate-port": ["3481"],
        "max-tcp-connections": ["77"], "tcp-idle-timeout": ["30"], "max-connections-per-ip": ["9"],
        "turn-threads": ["13"], "turn-wakeup-interval": ["250"], "software": ["Test Server 1"],
        "relay-ip": ["127.0.0.1"], "external-ip": ["192.0.2.7"], "relay-ports": ["50000-50999"], "realm": ["example.org"],
        "user": ["alice:pa:ss", "bob:two"], "auth-secret": ["first-secret", "second-secret"],
        "allow-peer": ["127.0.0.0/8"], "deny-peer": ["198.51.100.0/24", "2001:db8::/32"],
        "total-quota": ["1000"], "user-quota": ["5"], "max-bps": ["64000"], "kernel-fastpath": ["true"], "kernel-fastpath-routes": ["1024"], "max-allocate-lifetime": ["600"],
        "user-relay-share": ["20"],
        "signaling-threads": ["3"], "jwt-secret": ["0123456789abcdef0123456789abcdef"], "jwt-public-key": ["/etc/key.pem"],
        "public-host": ["turn.example.com", "[2001:db8::1]"], "allowed-origin": ["https://app.example.com"],
        "http-request-timeout": ["2.5"], "http-max-header-bytes": ["4096"], "http-max-headers": ["50"],
        "http-max-connections": ["500"],
        "webhook-url": ["https://hooks.example.com/switchboard", "http://127.0.0.1:9000/hooks"],
        "webhook-secret": ["whsec-first", "whsec-second"], "webhook-queue-dir": ["/var/lib/switchboard/webhooks"],
        "webhook-deadline": ["600"], "webhook-queue-limit": ["1000"], "webhook-ca-file": ["/etc/ssl/private-ca.pem"],
        "log-level": ["debug"], "log-format": ["json"],
    ]

    func testEverySettingHasASampleAndAUniqueKeyAndEnvironmentName() {
        let keys = ServerSettings.all.map(\.key)
        XCTAssertEqual(Set(keys).count, keys.count, "a key is declared twice")
        XCTAssertEqual(Set(ServerSettings.all.map(\.environmentVariable)).count, keys.count)
        for key in keys { XCTAssertNotNil(Self.samples[key], "no sample value for \(key): add one to SettingsTableTests.samples") }
        for key in Self.samples.keys { XCTAssertNotNil(ServerSettings.named(key), "sample for a setting that does not exist: \(key)") }
    }

    /// Each setting, given as a flag, as an environment variable and as a TOML key, yields the same configuration,
    /// and what `--print-config` shows of it reads back to that configuration (secrets aside).
    func testEverySettingRoundTripsThroughFlagsEnvironmentTOMLAndPrintConfig() throws {
        for setting in ServerSettings.all {
            let sample = try XCTUnwrap(Self.samples[setting.key])
            // RFC 5780 needs a concrete listen IP beside the alternate one.
            var context: [String: [String]] = setting.key == "alternate-ip" ? ["listen-ip": ["127.0.0.1"]] : [:]
            context[setting.key] = sample
            let fromFlags = try ConfigurationSources.load(file: nil, environment: [:], flags: context)
            XCTAssertNotEqual(fromFlags, try ConfigurationSources.load(file: nil, environment: [:],
                                                                       flags: context.filter { $0.key != setting.key }),
                              "\(setting.key): the sample changed nothing")

            var environment: [String: String] = [:]
            for (key, values) in context { environment[ServerSettings.named(key)!.environmentVariable] = values.joined(separator: ",") }
            XCTAssertEqual(try ConfigurationSources.load(file: nil, environment: environment, flags: [:]), fromFlags, setting.key)

            // `--key=value`, which every setting takes (a switch takes no separate value).
            let arguments = context.flatMap { key, values in values.map { "--\(key)=\($0)" } }
            let parsed = try ServeArguments.parse(arguments)
            XCTAssertEqual(try ConfigurationSources.load(file: nil, environment: [:], flags: parsed.settings), fromFlags, setting.key)

            guard setting.secrecy == .plain else {
                XCTAssertFalse(ServerSettings.printedConfiguration(fromFlags).contains(sample[0].split(separator: ":").last!),
                               "\(setting.key): --print-config shows a secret")
                continue
            }
            let file = try temporaryFile(ServerSettings.printedConfiguration(fromFlags))
            defer { try? FileManager.default.removeItem(at: file) }
            XCTAssertEqual(try ConfigurationSources.load(file: file.path, environment: [:], flags: [:]), fromFlags,
                           "\(setting.key): --print-config did not read back")
        }
    }

    func testTheDefaultPrintConfigReadsBack() throws {
        let defaults = ServerConfiguration()
        let file = try temporaryFile(ServerSettings.printedConfiguration(defaults))
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(try ConfigurationSources.load(file: file.path, environment: [:], flags: [:]), defaults)
    }

    func testPrintConfigQuotesAwkwardTextSoThatItReadsBack() throws {
        var configuration = ServerConfiguration()
        configuration.software = "Quote \" back\\slash\ttab \u{7F}del é ✓"
        let file = try temporaryFile(ServerSettings.printedConfiguration(configuration))
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(try ConfigurationSources.load(file: file.path, environment: [:], flags: [:]).software, configuration.software)
    }

    func testServeArgumentsTakeBothFlagFormsRepeatsTheLastOfASingleValueAndTheirOwnWords() throws {
        let parsed = try ServeArguments.parse(["--stun-port=1", "--user", "a:b", "--config", "x.toml", "--user=c:d", "--print-config",
                                               "--stun-port", "0"])
        XCTAssertEqual(parsed.settings, ["stun-port": ["0"], "user": ["a:b", "c:d"]])
        XCTAssertEqual(parsed.configFile, "x.toml")
        XCTAssertTrue(parsed.printConfig)
        XCTAssertFalse(parsed.help)
        XCTAssertTrue(try ServeArguments.parse(["--stun-port", "1", "-h"]).help)
        XCTAssertEqual(try ServeArguments.parse(["--self-signed", "--stun-port", "0"]).settings, ["self-signed": ["true"], "stun-port": ["0"]],
                       "a switch stands alone")
    }

    func testServeArgumentsRefuseUnknownFlagsMissingValuesAndStrayWords() {
        for (arguments, key) in [(["--stun-prot", "1"], "--stun-prot"), (["--stun-port"], "--stun-port"),
                                 (["stray"], "stray"), (["--realm=x", "--bogus=1"], "--bogus")] {
            XCTAssertThrowsError(try ServeArguments.parse(arguments)) { error in
                XCTAssertEqual((error as? ConfigurationError)?.key, key, "\(arguments)")
            }
        }
    }

    /// docs/configuration.md carries the table as generated; regenerate with
    /// `SWITCHBOARD_UPDATE_DOCS=1 swift test --filter SettingsTableTests`.
    func testConfigurationDocMatchesTheTable() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: ServerSettings.referenceStart), "docs/configuration.md has no table marker")
        let end = try XCTUnwrap(text.range(of: ServerSettings.referenceEnd + "\n"))
        let generated = ServerSettings.markdownReference()
        if String(text[start.lowerBound..<end.upperBound]) != generated {
            if ProcessInfo.processInfo.environment["SWITCHBOARD_UPDATE_DOCS"] == "1" {
                try (String(text[..<start.lowerBound]) + generated + String(text[end.upperBound...]))
                    .write(to: doc, atomically: true, encoding: .utf8)
            } else {
                XCTFail("docs/configuration.md drifted from ServerSettings.all; run SWITCHBOARD_UPDATE_DOCS=1 swift test --filter SettingsTableTests")
            }
        }
    }

    private func temporaryFile(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-\(UUID()).toml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }
}
