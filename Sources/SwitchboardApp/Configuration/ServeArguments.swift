/// `serve`'s command line, parsed against the settings table rather than declared one flag at a time.
public struct ServeArguments: Equatable, Sendable {
    /// `--config FILE`: the TOML layer under the environment and the flags.
    public var configFile: String?
    /// `--print-config`: print the effective settings (secrets masked) and exit.
    public var printConfig = false
    /// `--help` or `-h` anywhere on the line.
    public var help = false
    /// The settings given as flags, by key; repeatable keys may hold several values.
    public var settings: [String: [String]] = [:]

    public init() {}

    /// `--key value` or `--key=value`. Repeatable keys collect their values; for any other key the last one given
    /// wins, as with most command lines (a script can append an override).
    public static func parse(_ arguments: [String]) throws(ConfigurationError) -> ServeArguments {
        var parsed = ServeArguments()
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" {
                parsed.help = true
                continue
            }
            if argument == "--print-config" {
                parsed.printConfig = true
                continue
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(source: "command line", key: argument, problem: "unexpected argument")
            }
            let body = argument.dropFirst(2)
            let name: String
            let value: String
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                value = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
                let setting = ServerSettings.named(name)
                guard name == "config" || setting != nil else {
                    throw ConfigurationError(source: "command line", key: argument, problem: "unknown flag")
                }
                if setting?.isSwitch == true {
                    parsed.settings[name] = ["true"]
                    continue
                }
                guard index < arguments.endIndex else {
                    throw ConfigurationError(source: "command line", key: argument, problem: "needs a value")
                }
                value = arguments[index]
                index += 1
            }
            if name == "config" {
                guard parsed.configFile == nil else {
                    throw ConfigurationError(source: "command line", key: "--config", problem: "given more than once")
                }
                parsed.configFile = value
                continue
            }
            guard let setting = ServerSettings.named(name) else {
                throw ConfigurationError(source: "command line", key: "--" + name, problem: "unknown flag")
            }
            if setting.repeatable {
                parsed.settings[name, default: []].append(value)
            } else {
                parsed.settings[name] = [value]
            }
        }
        return parsed
    }
}
