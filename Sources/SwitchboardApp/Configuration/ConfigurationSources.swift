import Foundation
import SignalingEdge
import STUN
import TOMLKit

/// Applies the three configuration layers: TOML file, then environment, then flags (flags win).
///
/// Each layer is a list of `key → raw string values`, keyed by the long flag name without dashes (`stun-port`);
/// the TOML file may use either `stun-port` or `stun_port`, and the environment `SWITCHBOARD_STUN_PORT`.
/// Which keys exist and which repeat is the settings table's (`ServerSettings.all`); a later layer replaces a list.
public enum ConfigurationSources {
    public static let repeatableKeys: Set<String> = Set(ServerSettings.all.filter(\.repeatable).map(\.key))
    public static let knownKeys: Set<String> = Set(ServerSettings.all.map(\.key))

    public static func load(file: String?, environment: [String: String], flags: [String: [String]]) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let file {
            try apply(try readTOML(path: file), to: &configuration, source: file)
        }
        try apply(readEnvironment(environment), to: &configuration, source: "environment")
        try apply(flags, to: &configuration, source: "command line")
        // After all layers: listen-ip may come from one layer and alternate-ip from another.
        try checkAcrossSettings(configuration)
        return configuration
    }

    static func readEnvironment(_ environment: [String: String]) -> [String: [String]] {
        var values: [String: [String]] = [:]
        for setting in ServerSettings.all {
            guard let value = environment[setting.environmentVariable] else { continue }
            // Repeatable values are comma-separated in the environment.
            values[setting.key] = setting.repeatable ? value.split(separator: ",").map { String($0) } : [value]
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
        if let double = value.double { return String(double) }
        if let bool = value.bool { return String(bool) }
        return value.debugDescription
    }

    /// One layer's values, each through its setting's parser; the first refusal names source, key and value.
    static func apply(_ values: [String: [String]], to configuration: inout ServerConfiguration, source: String) throws {
        for key in values.keys where !knownKeys.contains(key) {
            throw ConfigurationError(source: source, key: key, problem: "unknown setting")
        }
        for setting in ServerSettings.all {
            guard let list = values[setting.key] else { continue }
            do {
                try setting.apply(&configuration, list)
            } catch {
                throw ConfigurationError(source: source, key: setting.key, problem: error.description)
            }
        }
    }

    static func checkAcrossSettings(_ c: ServerConfiguration) throws {
        if let alternate = c.alternateIP, alternate.family != c.listenIP.family || alternate.isUnspecified {
            throw ConfigurationError(source: "configuration", key: "alternate-ip",
                                     problem: "'\(alternate)' must be a concrete address of the same family as listen-ip '\(c.listenIP)'")
        }
        if c.alternateIP != nil, c.listenIP.isUnspecified {
            throw ConfigurationError(source: "configuration", key: "listen-ip",
                                     problem: "RFC 5780 needs a concrete listen IP next to --alternate-ip, not '\(c.listenIP)'")
        }
    }
}
