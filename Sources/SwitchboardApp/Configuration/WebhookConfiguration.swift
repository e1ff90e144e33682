/// Where lifecycle events are POSTed, how they are signed and how long they are kept trying (docs/webhooks.md).
public struct WebhookConfiguration: Sendable, Equatable {
    /// Each URL gets every event; none: webhooks are off.
    public var urls: [String] = []
    /// Each signs every request; two at once while rotating.
    public var secrets: [String] = []
    /// Relative paths are taken from the working directory: the queue must outlive the process and a reboot,
    /// which a temporary directory need not.
    public var queueDirectory = "switchboard-webhooks"
    public var deadlineSeconds = 86_400
    /// Undelivered events per URL before new ones are dropped.
    public var queueLimit = 50_000
    /// PEM certificates trusted for https:// URLs besides the system's roots.
    public var caFile: String?

    public init() {}
}
