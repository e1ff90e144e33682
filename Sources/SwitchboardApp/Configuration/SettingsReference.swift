extension ServerSettings {
    /// The settings part of `serve --help`: the flag on one line, what it does, its default and environment
    /// variable indented below, so that no terminal width breaks the layout.
    public static func helpText() -> String {
        all.map { setting in
            let repeatable = setting.repeatable ? " Repeatable." : ""
            return "  \(setting.flag) <\(setting.valueName)>\n      \(setting.help)\(repeatable)\n"
                + "      Default: \(setting.defaultText). Environment: \(setting.environmentVariable)."
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
