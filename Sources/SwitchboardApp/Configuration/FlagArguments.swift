/// `serve`'s setting flags, parsed against the settings table rather than declared one by one.
public enum FlagArguments {
    /// `--key value` or `--key=value`; repeatable keys may repeat (the parser of each setting refuses other repeats).
    public static func parse(_ arguments: [String]) throws(ConfigurationError) -> [String: [String]] {
        var values: [String: [String]] = [:]
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
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
                guard index < arguments.endIndex else {
                    throw ConfigurationError(source: "command line", key: argument, problem: "needs a value")
                }
                value = arguments[index]
                index += 1
            }
            guard ServerSettings.named(name) != nil else {
                throw ConfigurationError(source: "command line", key: "--" + name, problem: "unknown flag")
            }
            values[name, default: []].append(value)
        }
        return values
    }
}
