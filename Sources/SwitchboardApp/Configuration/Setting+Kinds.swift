import STUN

/// The shapes most settings share, so that an entry in the table says only what differs: its key, help and field.
extension Setting {
    /// One value, parsed by `parser` into `field` and shown as the value's own description.
    static func value<Value: CustomStringConvertible & Sendable>(
        _ key: String, _ valueName: String, help: String, default defaultDescription: String? = nil,
        _ field: WritableKeyPath<ServerConfiguration, Value> & Sendable,
        parser: @escaping @Sendable (String) throws(SettingProblem) -> Value
    ) -> Setting {
        Setting(key, valueName, help: help, default: defaultDescription,
                parse: { c, text throws(SettingProblem) in c[keyPath: field] = try parser(text) },
                current: { $0[keyPath: field].description })
    }

    /// One value that is unset unless given.
    static func optional<Value: CustomStringConvertible & Sendable>(
        _ key: String, _ valueName: String, help: String, default defaultDescription: String,
        _ field: WritableKeyPath<ServerConfiguration, Value?> & Sendable,
        parser: @escaping @Sendable (String) throws(SettingProblem) -> Value
    ) -> Setting {
        Setting(key, valueName, help: help, default: defaultDescription,
                parse: { c, text throws(SettingProblem) in c[keyPath: field] = try parser(text) },
                current: { $0[keyPath: field]?.description })
    }

    /// On or off: `true` or `false` in every layer, and a bare flag for `true`.
    static func `switch`(_ key: String, help: String, _ field: WritableKeyPath<ServerConfiguration, Bool> & Sendable) -> Setting {
        var setting = value(key, "true|false", help: help, field, parser: { text throws(SettingProblem) in
            switch text.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw SettingProblem("'\(text)' is not true or false")
            }
        })
        setting.isSwitch = true
        return setting
    }

    static func port(_ key: String, help: String, _ field: WritableKeyPath<ServerConfiguration, UInt16> & Sendable) -> Setting {
        value(key, "PORT", help: help, field, parser: SettingParsers.port)
    }

    /// A count that must be at least 1.
    static func count(_ key: String, _ valueName: String = "N", help: String, default defaultDescription: String? = nil,
                      _ field: WritableKeyPath<ServerConfiguration, Int> & Sendable) -> Setting {
        value(key, valueName, help: help, default: defaultDescription, field, parser: SettingParsers.positive)
    }

    static func address(_ key: String, help: String, default defaultDescription: String,
                        _ field: WritableKeyPath<ServerConfiguration, IPAddress?> & Sendable) -> Setting {
        optional(key, "IP", help: help, default: defaultDescription, field, parser: SettingParsers.ip)
    }

    /// A repeatable list of text taken as given.
    static func list(_ key: String, _ valueName: String, help: String, default defaultDescription: String,
                     _ field: WritableKeyPath<ServerConfiguration, [String]> & Sendable) -> Setting {
        Setting(repeatable: key, valueName, help: help, default: defaultDescription,
                parse: { c, list throws(SettingProblem) in c[keyPath: field] = list },
                current: { $0[keyPath: field] })
    }

    /// A repeatable list whose every value is checked and put in canonical form; nil from `normalise` refuses it.
    static func list(_ key: String, _ valueName: String, help: String, default defaultDescription: String,
                     _ field: WritableKeyPath<ServerConfiguration, [String]> & Sendable,
                     normalise: @escaping @Sendable (String) -> String?, refusal: String) -> Setting {
        Setting(repeatable: key, valueName, help: help, default: defaultDescription,
                parse: { c, list throws(SettingProblem) in
                    c[keyPath: field] = try list.map { text throws(SettingProblem) in
                        guard let value = normalise(text) else { throw SettingProblem("'\(text)' \(refusal)") }
                        return value
                    }
                },
                current: { $0[keyPath: field] })
    }
}
