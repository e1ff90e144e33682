import STUN

extension ServerSettings {
    /// The operator's listener and what draining does (docs/admin-api.md).
    static let operations: [Setting] = [
        .value("admin-ip", "IP", help: "Address of the admin API and /metrics; keep it on loopback or a private network.",
               \.adminIP, parser: SettingParsers.ip),
        .port("admin-port", help: "Admin API (/admin/…) and Prometheus metrics (/metrics), bearer token required; 0 picks a free port.",
              \.adminPort),
        Setting("admin-token", "TOKEN", help: "Bearer token of the admin API and /metrics (at least 16 characters).",
                default: "one generated at start and logged", secrecy: .secret,
                parse: { c, text throws(SettingProblem) in
                    guard text.utf8.count >= 16 else { throw SettingProblem("is shorter than 16 characters") }
                    c.adminToken = text
                },
                current: { $0.adminToken }),
        .optional("alternate-server", "IP:PORT",
                  help: "TURN server a draining node sends new allocations to (300 ALTERNATE-SERVER).",
                  default: "none: new allocations get 508 while draining", \.alternateServer,
                  parser: { text throws(SettingProblem) in
                      guard let address = TransportAddress(text), address.port != 0 else {
                          throw SettingProblem("'\(text)' is not IP:PORT ([IPv6]:PORT)")
                      }
                      return address
                  }),
    ]
}
