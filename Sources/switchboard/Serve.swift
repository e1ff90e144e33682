import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import EdgeSupport
import SwitchboardApp

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run STUN/TURN, WebSocket signaling and the demo page in one process.",
        discussion: """
            Settings come from --config FILE (TOML, keys named like the flags), then SWITCHBOARD_* environment \
            variables (SWITCHBOARD_STUN_PORT=3478, repeatable ones comma-separated), then flags; flags win. \
            Port 0 picks a free port. One line per listener is printed on stdout once it is bound, e.g. \
            `stun udp 127.0.0.1:3478`, then `http 127.0.0.1:8080`.
            """)

    @Option(help: "TOML configuration file.") var config: String?
    @Option(help: "Address for every listener (default 0.0.0.0).") var listenIP: String?
    @Option(help: "STUN/TURN port, UDP and TCP (default 3478).") var stunPort: String?
    @Option(help: "STUN/TURN over TLS and DTLS (default 5349).") var tlsPort: String?
    @Option(help: "HTTP, WebSocket and demo page (default 8080).") var httpPort: String?
    @Option(help: "Admin API and metrics on 127.0.0.1 (default 8081).") var adminPort: String?
    @Option(help: "RFC 5780 second IP address.") var alternateIP: String?
    @Option(help: "RFC 5780 second port (default: STUN port + 1).") var alternatePort: String?
    @Option(help: "Relay socket address (default: listen IP).") var relayIP: String?
    @Option(help: "Address advertised for relays behind a 1:1 NAT.") var externalIP: String?
    @Option(help: "Relay port range MIN-MAX (default 49152-65535).") var relayPorts: String?
    @Option(help: "TURN realm (default switchboard).") var realm: String?
    @Option(help: "Static long-term credential NAME:PASSWORD (repeatable).") var user: [String] = []
    @Option(help: "TURN REST shared secret (repeatable).") var authSecret: [String] = []
    @Option(help: "Peer CIDR to allow despite the default deny list (repeatable).") var allowPeer: [String] = []
    @Option(help: "Peer CIDR to deny (repeatable).") var denyPeer: [String] = []
    @Option(help: "TURN allocations in total (default 50000).") var totalQuota: String?
    @Option(help: "TURN allocations per user (default 100).") var userQuota: String?
    @Option(help: "Relayed bytes/s per allocation, 0 for no limit (default 0).") var maxBps: String?
    @Option(help: "Event loops serving STUN/TURN over UDP, one SO_REUSEPORT socket each (default 1).") var turnThreads: String?
    @Option(help: "Event loops for signaling connections; the hub runs on one of them (default: one per core).") var signalingThreads: String?
    @Option(help: "Share of the relay port range one user may hold, in percent (default 10).") var userRelayShare: String?
    @Option(help: "Host name or address for iceServers URLs (repeatable; default: the address the client reached).") var publicHost: [String] = []
    @Option(help: "Origin allowed to use signaling and the HTTP API, e.g. https://app.example.com (repeatable; default: any).") var allowedOrigin: [String] = []
    @Option(help: "Seconds for an HTTP request to arrive whole (default 10).") var httpRequestTimeout: String?
    @Option(help: "Bytes of an HTTP request head (default 32768).") var httpMaxHeaderBytes: String?
    @Option(help: "Header fields in an HTTP request (default 100).") var httpMaxHeaders: String?
    @Option(help: "Open HTTP connections in total (default 20000).") var httpMaxConnections: String?
    @Option(help: "Open connections per address (IPv6: per /64) on the HTTP and on the STUN/TURN TCP listener (default 1000).") var maxConnectionsPerIP: String?
    @Option(help: "STUN/TURN over TCP connections in total (default 10000).") var maxTCPConnections: String?
    @Option(help: "HS256 secret for signaling tokens (at least 32 bytes).") var jwtSecret: String?
    @Option(help: "ES256 public key file for signaling tokens.") var jwtPublicKey: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).") var logLevel: String?
    @Option(help: "text or json (default text).") var logFormat: String?

    var flagValues: [String: [String]] {
        var values: [String: [String]] = [:]
        let single: [(String, String?)] = [
            ("listen-ip", listenIP), ("stun-port", stunPort), ("tls-port", tlsPort), ("http-port", httpPort),
            ("admin-port", adminPort), ("alternate-ip", alternateIP), ("alternate-port", alternatePort),
            ("relay-ip", relayIP), ("external-ip", externalIP), ("relay-ports", relayPorts), ("realm", realm),
            ("total-quota", totalQuota), ("user-quota", userQuota), ("max-bps", maxBps), ("turn-threads", turnThreads), ("signaling-threads", signalingThreads), ("jwt-secret", jwtSecret), ("jwt-public-key", jwtPublicKey), ("log-level", logLevel), ("log-format", logFormat),
            ("user-relay-share", userRelayShare), ("http-request-timeout", httpRequestTimeout),
            ("http-max-header-bytes", httpMaxHeaderBytes), ("http-max-headers", httpMaxHeaders),
            ("http-max-connections", httpMaxConnections), ("max-connections-per-ip", maxConnectionsPerIP),
            ("max-tcp-connections", maxTCPConnections),
        ]
        for (key, value) in single { if let value { values[key] = [value] } }
        let repeated: [(String, [String])] = [("user", user), ("auth-secret", authSecret), ("allow-peer", allowPeer), ("deny-peer", denyPeer),
                                               ("public-host", publicHost), ("allowed-origin", allowedOrigin)]
        for (key, list) in repeated where !list.isEmpty { values[key] = list }
        return values
    }

    func run() async throws {
        let configuration: ServerConfiguration
        do {
            configuration = try ConfigurationSources.load(
                file: config, environment: ProcessInfo.processInfo.environment, flags: flagValues)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let format = configuration.logFormat
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let service = try SwitchboardService(configuration: configuration, logger: logger) { listeners in
            // Readiness lines: scripts and tests wait for these on stdout.
            let lines = listeners.map { "\($0)\n" }.joined()
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // One line an operator can act on, then a non-zero exit (a busy port, a bad address).
            let failure = (error as? ListenerStartError).map(\.description) ?? "\(error)"
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            throw ExitCode.failure
        }
    }
}
