extension ServerSettings {
    /// Relay addresses, credentials, peer policy and quotas (docs/turn.md).
    static let turn: [Setting] = [
        .address("relay-ip", help: "Address relay sockets bind to.", default: "the listen IP", \.relayIP),
        .address("external-ip", help: "Address advertised for relays behind a 1:1 NAT.", default: "none", \.externalIP),
        Setting("relay-ports", "MIN-MAX", help: "Relay port range.",
                parse: { c, text throws(SettingProblem) in c.relayPorts = try SettingParsers.portRange(text) },
                current: { "\($0.relayPorts.lowerBound)-\($0.relayPorts.upperBound)" }),
        Setting("realm", "REALM", help: "TURN realm, 1 to 763 bytes.",
                parse: { c, text throws(SettingProblem) in
                    guard !text.isEmpty, text.utf8.count <= 763 else { throw SettingProblem("'\(text)' is not 1 to 763 bytes") }
                    c.realm = text
                },
                current: { $0.realm }),
        Setting(repeatable: "user", "NAME:PASSWORD", help: "Static long-term credential.", default: "none",
                secrecy: .passwordAfterColon,
                parse: { c, list throws(SettingProblem) in
                    var users: [ServerConfiguration.StaticUser] = []
                    for text in list {
                        guard let user = ServerConfiguration.StaticUser(text) else {
                            // Masked: a value without its colon may be a bare password.
                            throw SettingProblem("'\(Setting.mask)' (hidden) is not NAME:PASSWORD")
                        }
                        users.append(user)
                    }
                    c.users = users
                },
                current: { $0.users.map { "\($0.name):\($0.password)" } }),
        Setting(repeatable: "auth-secret", "SECRET", help: "TURN REST shared secret.", default: "none", secrecy: .secret,
                parse: { c, list throws(SettingProblem) in
                    guard list.allSatisfy({ !$0.isEmpty }) else { throw SettingProblem("'' is an empty secret") }
                    c.authSecrets = list
                },
                current: { $0.authSecrets }),
        .list("allow-peer", "CIDR", help: "Peer range to allow despite the default deny list.", default: "none", \.allowPeers),
        .list("deny-peer", "CIDR", help: "Peer range to deny on top of the default deny list.", default: "none", \.denyPeers),
        .count("total-quota", help: "TURN allocations in total, shared by all loops.", \.totalQuota),
        .count("user-quota", help: "TURN allocations per user.", \.userQuota),
        Setting("user-relay-share", "PERCENT", help: "The largest share of the relay port range one user's allocations may hold.",
                parse: { c, text throws(SettingProblem) in
                    let share = try SettingParsers.positive(text)
                    guard share <= 100 else { throw SettingProblem("'\(text)' is not a percentage from 1 to 100") }
                    c.userRelayShare = share
                },
                current: { "\($0.userRelayShare)" }),
        Setting("max-bps", "BYTES", help: "Relayed bytes per second per allocation; 0 for no limit.",
                parse: { c, text throws(SettingProblem) in
                    guard let rate = Int(text), rate >= 0 else { throw SettingProblem("'\(text)' is not a byte rate (0 for none)") }
                    c.maxBps = rate
                },
                current: { "\($0.maxBps)" }),
        .switch("kernel-fastpath",
                help: "Forward bound channels (UDP, IPv4) in the kernel with a tc BPF program; needs root or CAP_BPF and CAP_NET_ADMIN, Linux 6.6, libbpf1. Falls back to user space with one log line.",
                \.kernelFastPath),
        Setting("kernel-fastpath-routes", "COUNT", help: "Channels the kernel fast path holds at most; more stay in user space. Its counters take 32 bytes per channel per possible CPU of kernel memory, reserved at start.",
                default: "65536",
                parse: { c, text throws(SettingProblem) in c.kernelFastPathRoutes = try SettingParsers.positive(text) },
                current: { "\($0.kernelFastPathRoutes)" }),
        Setting("max-allocate-lifetime", "SECONDS",
                help: "Longest allocation lifetime a client may ask for; values under 600 are raised to 600.",
                parse: { c, text throws(SettingProblem) in
                    // RFC 8656 lets a server shorten lifetimes, never below the default allocation lifetime.
                    c.maxAllocateLifetime = max(600, try SettingParsers.positive(text))
                },
                current: { "\($0.maxAllocateLifetime)" }),
    ]
}
