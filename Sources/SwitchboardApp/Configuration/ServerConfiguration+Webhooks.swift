import Foundation
import Webhooks

extension ServerConfiguration {
    /// The dispatcher's settings; nil when no URL is configured. Unsigned webhooks are refused: a receiver could
    /// not tell ours from anyone's.
    func webhookSettings() throws(ConfigurationError) -> WebhookSettings? {
        guard !webhooks.urls.isEmpty else { return nil }
        guard !webhooks.secrets.isEmpty else {
            throw ConfigurationError(source: "configuration", key: "webhook-secret", problem: "--webhook-url needs at least one --webhook-secret")
        }
        var settings = WebhookSettings(urls: webhooks.urls.compactMap(URL.init(string:)), secrets: webhooks.secrets,
                                       queueDirectory: URL(fileURLWithPath: webhooks.queueDirectory, isDirectory: true))
        settings.deadline = .seconds(webhooks.deadlineSeconds)
        settings.queueLimit = webhooks.queueLimit
        settings.trustedCertificatesFile = webhooks.caFile
        return settings
    }
}
