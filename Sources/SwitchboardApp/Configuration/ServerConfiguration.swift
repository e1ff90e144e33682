import EdgeSupport
import NIOCore
import Signaling
import SignalingEdge
import STUN

/// Everything `switchboard serve` can be told, with the embedded defaults of the command-line contract.
///
/// Filled from a TOML file, then `SWITCHBOARD_*` environment variables, then flags (see `ConfigurationSources`).
/// Fields for TURN and signaling are read and validated now so that files written today keep working.
public struct ServerConfiguration: Sendable, Equatable {
    public var listenIP: IPAddress = .v4(0)
    public var stunPort: UInt16 = 3478
    public var tlsPort: UInt16 = 5349
    /// PEM certificate chain (leaf first) and private key for every TLS listener; reloaded on SIGHUP.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// A throwaway certificate made at start, for trying TLS without files.
    public var selfSigned = false
    /// HTTPS and WSS for signaling: the HTTP routes over TLS; nil: off.
    public var httpsPort: UInt16?
    /// One port for TLS (turns: and HTTPS/WSS), plain STUN/TURN over TCP and plain HTTP, sorted by first bytes; nil: off.
    public var muxPort: UInt16?
    public var httpPort: UInt16 = 8080
    public var adminPort: UInt16 = 8081
    public var adminIP: IPAddress = .v4(0x7F00_0001)
    /// Bearer token of the admin API; nil generates one at start (logged).
    public var adminToken: String?
    /// Where a draining server sends new TURN allocations (300 ALTERNATE-SERVER).
    public var alternateServer: TransportAddress?
    public var alternateIP: IPAddress?
    public var alternatePort: UInt16?
    public var relayIP: IPAddress?
    public var externalIP: IPAddress?
    public var relayPorts: ClosedRange<UInt16> = 49152...65535
    public var realm: String = "switchboard"
    public var users: [StaticUser] = []
    public var authSecrets: [String] = []
    public var allowPeers: [String] = []
    public var denyPeers: [String] = []
    public var jwtSecret: String?
    public var jwtPublicKeyFile: String?
    public var logLevel: String = "info"
    public var logFormat: LogFormat = .text
    /// SOFTWARE attribute on every STUN response; empty to send none.
    public var software: String = "Switchboard"
    /// Bounds on the STUN-over-TCP listener.
    public var maxTCPConnections: Int = 10_000
    public var tcpIdleTimeoutSeconds: Int = 600
    /// TURN quotas, named as coturn names them: allocations in total, per user, relayed bytes/s per allocation (0: none).
    public var totalQuota: Int = 50_000
    public var userQuota: Int = 100
    public var maxBps: Int = 0
    /// Forward bound channels in the kernel (docs/kernel-fastpath.md), and room for how many.
    public var kernelFastPath = false
    public var kernelFastPathRoutes: Int = 65_536
    /// Longest allocation lifetime a client may ask for, in seconds.
    public var maxAllocateLifetime: Int = 3600
    /// Event loops (TURN cores) serving STUN/TURN over UDP, each with its own SO_REUSEPORT socket; one per core by
    /// default, as coturn runs one relay thread per core. With one loop, many calls queue on its single thread (the
    /// listener's socket overflows at video load and the tail latency of every call grows); the saturating single
    /// flow costs the same either way (docs/benchmarks.md).
    public var turnThreads: Int = System.coreCount
    /// Interrupt moderation for the TURN loops: once traffic wakes a loop more often than this, it waits out the rest
    /// of the interval before each turn, so that one turn carries many calls' packets (docs/turn.md). 0: off.
    public var turnWakeUpIntervalMicroseconds: Int = 0
    /// Event loops for signaling connections, one per core by default; the hub's core runs on one of them.
    public var signalingThreads: Int = System.coreCount
    /// What an HTTP request may hold before it is answered (deadline, header bytes and fields, body bytes).
    public var httpLimits = HTTPRequestLimits()
    /// Open HTTP connections in total; more are answered 503 and closed.
    public var httpMaxConnections: Int = 20_000
    /// Open connections from one address (an IPv6 /64) on the HTTP listener, and again on the STUN/TURN TCP one.
    public var maxConnectionsPerIP: Int = 1_000
    /// Host names or addresses put in `iceServers` URLs (the first one; all are listed). Empty: the listener's own
    /// address, or with a wildcard listener the address each client reached.
    public var publicHosts: [String] = []
    /// Origins (`https://app.example.com`) whose pages may use signaling and the HTTP API; empty: any origin.
    public var allowedOrigins: [String] = []
    /// Bounds of the signaling core (not flags: the defaults are the protocol's documented ones; tests lower them).
    public var signalingLimits = SignalingLimits()
    /// The largest share of the relay port range, in percent, that one user's allocations may hold.
    public var userRelayShare: Int = 10
    public var webhooks = WebhookConfiguration()

    public init() {}

    public enum LogFormat: String, Sendable, Equatable {
        case text, json
    }

    /// A long-term credential from configuration.
    public struct StaticUser: Sendable, Equatable {
        public var name: String
        public var password: String

        public init(name: String, password: String) {
            self.name = name
            self.password = password
        }

        /// Parses `NAME:PASSWORD` (the password may itself contain colons).
        public init?(_ text: String) {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return nil }
            self.init(name: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
    }

    /// The RFC 5780 alternate address, when both halves are configured.
    public var alternateAddress: TransportAddress? {
        guard let alternateIP else { return nil }
        return TransportAddress(ip: alternateIP, port: alternatePort ?? stunPort &+ 1)
    }
}

/// A configuration value that could not be accepted, named after where it came from.
public typealias ConfigurationError = InvalidSetting
