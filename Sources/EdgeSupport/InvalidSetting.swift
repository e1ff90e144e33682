/// A setting that cannot be used: where it came from (the TOML file's path, `environment`, `command line`, or
/// `configuration` when only starting a listener shows it), its key, and why.
///
/// One type for the app's parsing and the edges' start-up, so that an operator reads every refusal the same way.
public struct InvalidSetting: Error, CustomStringConvertible, Equatable, Sendable {
    public var source: String?
    public var key: String
    public var problem: String

    public init(source: String? = nil, key: String, problem: String) {
        self.source = source
        self.key = key
        self.problem = problem
    }

    public var description: String { (source.map { "\($0): " } ?? "") + "\(key): \(problem)" }
}
