/// The on-disk queue could not be opened or written.
public struct WebhookQueueError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "webhook queue \(path): \(problem)" }
}
