/// One thing `switchboard serve` can be told, declared once.
///
/// The flag (`--stun-port`), the environment variable (`SWITCHBOARD_STUN_PORT`), the TOML key (`stun-port` or
/// `stun_port`), the `serve --help` line, the `--print-config` line and the row in docs/configuration.md all come
/// from this value, so they cannot disagree.
public struct Setting: Sendable {
    /// How much of a value `--print-config` may show.
    public enum Secrecy: Sendable, Equatable {
        case plain
        /// The whole value is masked.
        case secret
        /// `NAME:PASSWORD`: the name is shown, the password masked.
        case passwordAfterColon
    }

    public let key: String
    /// The placeholder in help text (`PORT`).
    public let valueName: String
    public let help: String
    /// Said in help and docs when the default is not a plain value (`one per core`); nil: the value
    /// `ServerConfiguration()` holds, so the default is written in one place only.
    public let defaultDescription: String?
    public let repeatable: Bool
    public let secrecy: Secrecy
    /// An on/off setting: as a flag it may stand alone (`--self-signed` means `--self-signed=true`).
    public internal(set) var isSwitch = false
    /// Parses and checks one key's raw values (one unless repeatable) into the configuration.
    let apply: @Sendable (inout ServerConfiguration, [String]) throws(SettingProblem) -> Void
    /// The effective value(s) as text, in the form `apply` accepts; empty when unset.
    let current: @Sendable (ServerConfiguration) -> [String]

    /// A setting that takes one value.
    init(_ key: String, _ valueName: String, help: String, default defaultDescription: String? = nil,
         secrecy: Secrecy = .plain,
         parse: @escaping @Sendable (inout ServerConfiguration, String) throws(SettingProblem) -> Void,
         current: @escaping @Sendable (ServerConfiguration) -> String?) {
        self.key = key
        self.valueName = valueName
        self.help = help
        self.defaultDescription = defaultDescription
        self.repeatable = false
        self.secrecy = secrecy
        self.apply = { (configuration: inout ServerConfiguration, values: [String]) throws(SettingProblem) in
            guard values.count == 1 else { throw SettingProblem("given \(values.count) times") }
            try parse(&configuration, values[0])
        }
        self.current = { current($0).map { [$0] } ?? [] }
    }

    /// A setting that may be given several times; a later layer replaces the whole list.
    init(repeatable key: String, _ valueName: String, help: String, default defaultDescription: String,
         secrecy: Secrecy = .plain,
         parse: @escaping @Sendable (inout ServerConfiguration, [String]) throws(SettingProblem) -> Void,
         current: @escaping @Sendable (ServerConfiguration) -> [String]) {
        self.key = key
        self.valueName = valueName
        self.help = help
        self.defaultDescription = defaultDescription
        self.repeatable = true
        self.secrecy = secrecy
        self.apply = parse
        self.current = current
    }

    public var flag: String { "--" + key }
    public var environmentVariable: String { "SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_") }
    /// The TOML key as documented; `readTOML` also takes the underscore spelling.
    public var tomlKey: String { key }

    /// The default as help and docs say it.
    public var defaultText: String {
        if let defaultDescription { return defaultDescription }
        let values = current(ServerConfiguration())
        return values.isEmpty ? "none" : values.joined(separator: ", ")
    }

    /// The effective values with secrets masked, for `--print-config`.
    public func displayedValues(of configuration: ServerConfiguration) -> [String] {
        current(configuration).map { value in
            switch secrecy {
            case .plain: value
            case .secret: Setting.mask
            case .passwordAfterColon:
                value.firstIndex(of: ":").map { String(value[..<$0]) + ":" + Setting.mask } ?? Setting.mask
            }
        }
    }

    static let mask = "********"
}

/// Why a value was refused; `ConfigurationSources` adds where it came from and the key.
public struct SettingProblem: Error, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
