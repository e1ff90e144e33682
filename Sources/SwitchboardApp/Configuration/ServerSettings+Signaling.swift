import SignalingEdge

extension ServerSettings {
    /// Signaling, the HTTP listener's bounds and who may use them (docs/limits.md).
    static let signaling: [Setting] = [
        .count("signaling-threads", help: "Event loops for signaling connections; the hub runs on one of them.",
               default: "one per core", \.signalingThreads),
        Setting("jwt-secret", "SECRET", help: "HS256 secret for signaling tokens (at least 32 bytes).",
                default: "none: signaling runs open", secrecy: .secret,
                parse: { c, text throws(SettingProblem) in c.jwtSecret = text },
                current: { $0.jwtSecret }),
        .optional("jwt-public-key", "FILE", help: "ES256 public key file (PEM) for signaling tokens.", default: "none",
                  \.jwtPublicKeyFile, parser: { $0 }),
        .list("public-host", "HOST", help: "Host name or address for iceServers URLs; never taken from the request's Host header.",
              default: "external IP, else a concrete listen IP, else the address the client reached", \.publicHosts,
              normalise: PublicHost.normalised, refusal: "is not a host name or IP address"),
        .list("allowed-origin", "ORIGIN", help: "Origin such as https://app.example.com whose pages may use signaling and the HTTP API.",
              default: "any origin", \.allowedOrigins,
              normalise: OriginPolicy.normalised, refusal: "is not an origin such as https://app.example.com"),
        Setting("http-request-timeout", "SECONDS", help: "Seconds for an HTTP request to arrive whole, else 408.",
                parse: { c, text throws(SettingProblem) in
                    guard let seconds = Double(text), seconds > 0, seconds <= 3600 else {
                        throw SettingProblem("'\(text)' is not a number of seconds between 0 and 3600")
                    }
                    c.httpLimits.requestTimeout = seconds
                },
                current: { SettingParsers.seconds($0.httpLimits.requestTimeout) }),
        Setting("http-max-header-bytes", "BYTES", help: "Bytes of an HTTP request head, at least 1024, else 431.",
                parse: { c, text throws(SettingProblem) in
                    let bytes = try SettingParsers.positive(text)
                    guard bytes >= 1024 else { throw SettingProblem("'\(text)' is less than 1024") }
                    c.httpLimits.maxHeaderBytes = bytes
                },
                current: { "\($0.httpLimits.maxHeaderBytes)" }),
        .count("http-max-headers", help: "Header fields in an HTTP request, else 431.", \.httpLimits.maxHeaderCount),
        .count("http-max-connections", help: "Open HTTP connections in total; more are answered 503 and closed.",
               \.httpMaxConnections),
    ]
}
