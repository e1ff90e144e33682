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

    /// Integers bare, everything else a basic string: addresses and ranges are strings in a config file.
    private static func tomlValue(_ text: String) -> String {
        if let _ = Int(text), !text.hasPrefix("+") { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                escaped += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "\"" + escaped + "\""
    }
}
