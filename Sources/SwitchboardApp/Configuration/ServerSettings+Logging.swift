extension ServerSettings {
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// What goes to stderr and how.
    static let logging: [Setting] = [
        Setting("log-level", "LEVEL", help: "One of \(logLevels.joined(separator: ", ")).",
                parse: { c, text throws(SettingProblem) in c.logLevel = try SettingParsers.oneOf(text, logLevels) },
                current: { $0.logLevel }),
        Setting("log-format", "FORMAT", help: "text or json.",
                parse: { c, text throws(SettingProblem) in
                    guard let format = ServerConfiguration.LogFormat(rawValue: text) else {
                        throw SettingProblem("'\(text)' is not text or json")
                    }
                    c.logFormat = format
                },
                current: { $0.logFormat.rawValue }),
    ]
}
