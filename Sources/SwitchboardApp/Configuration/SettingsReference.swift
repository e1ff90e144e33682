extension ServerSettings {
    /// The settings part of `serve --help`, one line per setting.
    public static func helpText() -> String {
        let width = all.map { "\($0.flag) <\($0.valueName)>".count }.max() ?? 0
        return all.map { setting in
            let flag = "\(setting.flag) <\(setting.valueName)>"
            let padding = String(repeating: " ", count: width - flag.count)
            let repeatable = setting.repeatable ? "repeatable; " : ""
            return "  \(flag)\(padding)  \(setting.help) (\(repeatable)default \(setting.defaultText); \(setting.environmentVariable))"
        }.joined(separator: "\n")
    }

    public static let referenceStart = "<!-- settings table: generated from ServerSettings.all, do not edit by hand -->"
    public static let referenceEnd = "<!-- end of settings table -->"

    /// The generated part of docs/configuration.md, between its markers.
    public static func markdownReference() -> String {
        var lines = [referenceStart, "",
                     "| flag | environment | TOML key | default | secret | description |",
                     "| --- | --- | --- | --- | --- | --- |"]
        for setting in all {
            let secret = switch setting.secrecy {
            case .plain: "no"
            case .secret: "yes"
            case .passwordAfterColon: "password"
            }
            let repeatable = setting.repeatable ? " Repeatable." : ""
            let cells = ["`\(setting.flag) \(setting.valueName)`", "`\(setting.environmentVariable)`", "`\(setting.tomlKey)`",
                         setting.defaultText, secret, setting.help + repeatable]
            lines.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        lines += ["", referenceEnd]
        return lines.joined(separator: "\n") + "\n"
    }
}
