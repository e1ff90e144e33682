import STUN

extension ServerSettings {
    /// Addresses, ports and connection bounds of the listeners.
    static let listeners: [Setting] = [
        .value("listen-ip", "IP", help: "Address for every listener.", \.listenIP, parser: SettingParsers.ip),
        .port("stun-port", help: "STUN/TURN port, UDP and TCP; 0 picks a free port.", \.stunPort),
        .port("tls-port", help: "STUN/TURN over TLS (turns:); served when a certificate is configured.", \.tlsPort),
        .optional("tls-cert", "FILE", help: "PEM certificate chain, leaf first, for every TLS listener; reloaded on SIGHUP.",
                  default: "none: no TLS", \.tlsCertFile, parser: { $0 }),
        .optional("tls-key", "FILE", help: "PEM private key (PKCS#8, SEC1 or RSA) of --tls-cert; reloaded on SIGHUP.",
                  default: "none", \.tlsKeyFile, parser: { $0 }),
        .switch("self-signed", help: "Make a throwaway certificate at start (for local trials; its SHA-256 fingerprint is logged).",
                \.selfSigned),
        .port("http-port", help: "HTTP: WebSocket signaling, long polling, /v1/ice-servers, /healthz, demo page.", \.httpPort),
        .optional("https-port", "PORT", help: "HTTPS and WSS: the HTTP routes over TLS; needs a certificate (--tls-cert or --self-signed).",
                  default: "off", \.httpsPort, parser: SettingParsers.port),
        .optional("mux-port", "PORT",
                  help: "One port for turns:, HTTPS/WSS, plain STUN/TURN over TCP and plain HTTP, told apart by their first bytes (443 where only 443 is open).",
                  default: "off", \.muxPort, parser: SettingParsers.port),
        .address("alternate-ip", help: "RFC 5780 second IP address; needs a concrete listen IP of the same family.",
                 default: "off", \.alternateIP),
        .optional("alternate-port", "PORT", help: "RFC 5780 second port.", default: "STUN port + 1", \.alternatePort,
                  parser: SettingParsers.port),
        .count("max-tcp-connections", help: "STUN/TURN over TCP connections in total.", \.maxTCPConnections),
        .count("tcp-idle-timeout", "SECONDS", help: "Seconds a STUN/TURN TCP connection may stay silent before it is closed.",
               \.tcpIdleTimeoutSeconds),
        .count("max-connections-per-ip",
               help: "Open connections per address (IPv6: per /64), on the HTTP and again on the STUN/TURN TCP listener.",
               \.maxConnectionsPerIP),
        .count("turn-threads",
               help: "Event loops serving STUN/TURN over UDP, one SO_REUSEPORT socket each; the relay port range is split between them.",
               default: "one per core", \.turnThreads),
        .value("software", "TEXT", help: "SOFTWARE attribute on every STUN response; empty to send none.", \.software,
               parser: { $0 }),
    ]
}
