import Foundation

extension ServerSettings {
    /// Signed, retried lifecycle webhooks (docs/webhooks.md).
    static let webhooks: [Setting] = [
        .list("webhook-url", "URL", help: "http:// or https:// URL that every lifecycle event is POSTed to.",
              default: "none: webhooks off", \.webhooks.urls, normalise: webhookURL, refusal: "is not an http:// or https:// URL"),
        Setting(repeatable: "webhook-secret", "SECRET",
                help: "Signs every webhook (Switchboard-Signature, one v1= entry per secret); needed with --webhook-url.",
                default: "none", secrecy: .secret,
                parse: { c, list throws(SettingProblem) in c.webhooks.secrets = list },
                current: { $0.webhooks.secrets }),
        .value("webhook-queue-dir", "DIR", help: "Directory of the webhook queue on disk, one subdirectory per URL.",
               \.webhooks.queueDirectory, parser: { text throws(SettingProblem) in
                   guard !text.isEmpty else { throw SettingProblem("is empty") }
                   return text
               }),
        .count("webhook-deadline", "SECONDS", help: "Seconds after an event that it is still retried; then it counts as failed.",
               \.webhooks.deadlineSeconds),
        .count("webhook-queue-limit", help: "Undelivered webhook events per URL; more are dropped and counted.",
               \.webhooks.queueLimit),
        .optional("webhook-ca-file", "FILE", help: "PEM certificates to trust for https:// webhook URLs besides the system's roots (a private CA).",
                  default: "the system's roots only", \.webhooks.caFile, parser: { $0 }),
    ]

    static func webhookURL(_ text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return nil }
        return url.absoluteString
    }
}
