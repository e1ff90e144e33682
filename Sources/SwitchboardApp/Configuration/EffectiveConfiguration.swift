import Signaling

extension ServerSettings {
    /// `serve --print-config`: every setting's effective value as TOML a `--config` file could hold, secrets
    /// masked; unset settings are comments so that the text still reads back.
    public static func printedConfiguration(_ configuration: ServerConfiguration) -> String {
        all.map { setting in
            let values = setting.displayedValues(of: configuration)
            if setting.repeatable {
                return "\(setting.tomlKey) = [\(values.map(tomlValue).joined(separator: ", "))]"
            }
            guard let value = values.first else { return "# \(setting.tomlKey) is not set (default: \(setting.defaultText))" }
            return "\(setting.tomlKey) = \(tomlValue(value))"
        }.joined(separator: "\n") + "\n"
    }

    /// Integers bare, everything else a basic string: addresses and ranges are strings in a config file. A JSON
    /// string is a TOML basic string, once DEL (which JSON lets through and TOML does not) is escaped as well.
    private static func tomlValue(_ text: String) -> String {
        if let _ = Int(text), !text.hasPrefix("+") { return text }
        return JSONValue.string(text).serialised.replacingOccurrences(of: "\u{7F}", with: "\\u007f")
    }
}
