import Foundation
import SignalingEdge
import STUN
import TOMLKit

/// Applies the three configuration layers: TOML file, then environment, then flags (flags win).
///
/// Each layer is a list of `key → raw string values`, keyed by the long flag name without dashes (`stun-port`);
/// the TOML file may use either `stun-port` or `stun_port`, and the environment `SWITCHBOARD_STUN_PORT`.
/// Repeatable keys (`user`, `auth-secret`, `allow-peer`, `deny-peer`) take lists; a later layer replaces a list.
public enum ConfigurationSources {
    public static let repeatableKeys: Set<String> = ["user", "auth-secret", "allow-peer", "deny-peer", "public-host", "allowed-origin"]
    public static let knownKeys: Set<String> = [
        "listen-ip", "stun-port", "tls-port", "http-port", "admin-port", "alternate-ip", "alternate-port",
        "relay-ip", "external-ip", "relay-ports", "realm", "user", "auth-secret", "allow-peer", "deny-peer",
        "jwt-secret", "jwt-public-key", "log-level", "log-format", "software", "max-tcp-connections",
        "tcp-idle-timeout", "total-quota", "user-quota", "max-bps", "max-allocate-lifetime", "turn-threads", "signaling-threads",
        "http-request-timeout", "http-max-header-bytes", "http-max-headers", "http-max-connections", "max-connections-per-ip",
        "public-host", "allowed-origin", "user-relay-share",
    ]

    public static func load(file: String?, environment: [String: String], flags: [String: [String]]) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let file {
            try apply(try readTOML(path: file), to: &configuration, source: file)
        }
        try apply(readEnvironment(environment), to: &configuration, source: "environment")
        try apply(flags, to: &configuration, source: "command line")
        return configuration
    }

    static func readEnvironment(_ environment: [String: String]) -> [String: [String]] {
        var values: [String: [String]] = [:]
        for key in knownKeys {
            let name = "SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
            guard let value = environment[name] else { continue }
            // Repeatable values are comma-separated in the environment.
            values[key] = repeatableKeys.contains(key) ? value.split(separator: ",").map { String($0) } : [value]
        }
        return values
    }

    static func readTOML(path: String) throws -> [String: [String]] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(source: path, key: "file", problem: "cannot read: \(error.localizedDescription)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch {
            throw ConfigurationError(source: path, key: "file", problem: "not valid TOML: \(error)")
        }
        var values: [String: [String]] = [:]
        for (rawKey, value) in table {
            let key = rawKey.replacingOccurrences(of: "_", with: "-")
            guard knownKeys.contains(key) else {
                throw ConfigurationError(source: path, key: rawKey, problem: "unknown setting")
            }
            if let array = value.array {
                values[key] = array.map { scalarString($0) }
            } else {
                values[key] = [scalarString(value)]
            }
        }
        return values
    }

    private static func scalarString(_ value: TOMLValueConvertible) -> String {
        if let string = value.string { return string }
        if let int = value.int { return String(int) }
        if let bool = value.bool { return String(bool) }
        return value.debugDescription
    }

    static func apply(_ values: [String: [String]], to c: inout ServerConfiguration, source: String) throws {
        func fail(_ key: String, _ problem: String) -> ConfigurationError {
            ConfigurationError(source: source, key: key, problem: problem)
        }
        func one(_ key: String) throws -> String? {
            guard let list = values[key] else { return nil }
            guard list.count == 1 else { throw fail(key, "given \(list.count) times") }
            return list[0]
        }
        func port(_ key: String) throws -> UInt16? {
            guard let text = try one(key) else { return nil }
            guard let port = UInt16(text) else { throw fail(key, "'\(text)' is not a port (0-65535)") }
            return port
        }
        func ip(_ key: String) throws -> IPAddress? {
            guard let text = try one(key) else { return nil }
            guard let ip = IPAddress(text) else { throw fail(key, "'\(text)' is not an IPv4 or IPv6 address") }
            return ip
        }
        func positive(_ key: String) throws -> Int? {
            guard let text = try one(key) else { return nil }
            guard let value = Int(text), value > 0 else { throw fail(key, "'\(text)' is not a positive integer") }
            return value
        }

        if let v = try ip("listen-ip") { c.listenIP = v }
        if let v = try port("stun-port") { c.stunPort = v }
        if let v = try port("tls-port") { c.tlsPort = v }
        if let v = try port("http-port") { c.httpPort = v }
        if let v = try port("admin-port") { c.adminPort = v }
        if let v = try ip("alternate-ip") { c.alternateIP = v }
        if let v = try port("alternate-port") { c.alternatePort = v }
        if let v = try ip("relay-ip") { c.relayIP = v }
        if let v = try ip("external-ip") { c.externalIP = v }
        if let text = try one("relay-ports") {
            let parts = text.split(separator: "-")
            guard parts.count == 2, let low = UInt16(parts[0]), let high = UInt16(parts[1]), low > 0, low <= high else {
                throw fail("relay-ports", "'\(text)' is not MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 65535")
            }
            c.relayPorts = low...high
        }
        if let v = try one("realm") {
            guard !v.isEmpty, v.utf8.count <= 763 else { throw fail("realm", "must be 1 to 763 bytes") }
            c.realm = v
        }
        if let list = values["user"] {
            c.users = try list.map { text in
                guard let user = ServerConfiguration.StaticUser(text) else { throw fail("user", "'\(text)' is not NAME:PASSWORD") }
                return user
            }
        }
        if let list = values["auth-secret"] {
            guard list.allSatisfy({ !$0.isEmpty }) else { throw fail("auth-secret", "empty secret") }
            c.authSecrets = list
        }
        if let list = values["allow-peer"] { c.allowPeers = list }
        if let list = values["deny-peer"] { c.denyPeers = list }
        if let v = try one("jwt-secret") { c.jwtSecret = v }
        if let v = try one("jwt-public-key") { c.jwtPublicKeyFile = v }
        if let v = try one("log-level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(v) else { throw fail("log-level", "'\(v)' is not one of \(levels.joined(separator: ", "))") }
            c.logLevel = v
        }
        if let v = try one("log-format") {
            guard let format = ServerConfiguration.LogFormat(rawValue: v) else { throw fail("log-format", "'\(v)' is not text or json") }
            c.logFormat = format
        }
        if let v = try one("software") { c.software = v }
        if let v = try positive("max-tcp-connections") { c.maxTCPConnections = v }
        if let v = try positive("tcp-idle-timeout") { c.tcpIdleTimeoutSeconds = v }
        if let v = try positive("total-quota") { c.totalQuota = v }
        if let v = try positive("user-quota") { c.userQuota = v }
        if let v = try positive("turn-threads") { c.turnThreads = v }
        if let v = try positive("signaling-threads") { c.signalingThreads = v }
        if let text = try one("max-bps") {
            guard let value = Int(text), value >= 0 else { throw fail("max-bps", "'\(text)' is not a byte rate (0 for none)") }
            c.maxBps = value
        }
        if let v = try positive("max-allocate-lifetime") { c.maxAllocateLifetime = max(600, v) }
        if let text = try one("http-request-timeout") {
            guard let value = Double(text), value > 0, value <= 3600 else {
                throw fail("http-request-timeout", "'\(text)' is not a number of seconds between 0 and 3600")
            }
            c.httpLimits.requestTimeout = value
        }
        if let v = try positive("http-max-header-bytes") {
            guard v >= 1024 else { throw fail("http-max-header-bytes", "must be at least 1024") }
            c.httpLimits.maxHeaderBytes = v
        }
        if let v = try positive("http-max-headers") { c.httpLimits.maxHeaderCount = v }
        if let v = try positive("http-max-connections") { c.httpMaxConnections = v }
        if let v = try positive("max-connections-per-ip") { c.maxConnectionsPerIP = v }
        if let list = values["public-host"] {
            c.publicHosts = try list.map { text in
                guard let host = PublicHost.normalised(text) else {
                    throw fail("public-host", "'\(text)' is not a host name or IP address")
                }
                return host
            }
        }
        if let list = values["allowed-origin"] {
            c.allowedOrigins = try list.map { text in
                guard let origin = OriginPolicy.normalised(text) else {
                    throw fail("allowed-origin", "'\(text)' is not an origin such as https://app.example.com")
                }
                return origin
            }
        }
        if let v = try positive("user-relay-share") {
            guard v <= 100 else { throw fail("user-relay-share", "'\(v)' is not a percentage from 1 to 100") }
            c.userRelayShare = v
        }

        if let alternate = c.alternateIP, alternate.family != c.listenIP.family || alternate.isUnspecified {
            throw fail("alternate-ip", "must be a concrete address of the same family as listen-ip")
        }
        if c.alternateIP != nil, c.listenIP.isUnspecified {
            throw fail("listen-ip", "RFC 5780 needs a concrete listen IP next to --alternate-ip")
        }
    }
}
