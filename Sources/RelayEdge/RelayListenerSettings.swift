import EdgeSupport
import STUN

/// What the relay edge's listeners need to know, filled in by the app from its settings.
package struct RelayListenerSettings: Sendable {
    package var listenIP: IPAddress
    package var stunPort: UInt16
    /// RFC 5780: a second IP (and port) to answer CHANGE-REQUEST from; nil when only one address is configured.
    package var alternateIP: IPAddress?
    package var alternatePort: UInt16?
    /// SOFTWARE on every STUN response; nil to send none.
    package var software: String?
    package var tcpIdleTimeoutSeconds: Int
    package var maxTCPConnections: Int
    package var maxConnectionsPerIP: Int
    package var turnThreads: Int
    /// The least time between a TURN loop's wake-ups by traffic once it comes faster (`DatagramLoop`); zero: none.
    package var turnWakeUpInterval: Duration = .zero
    /// STUN/TURN over TLS (RFC 8489 §6.2.3): its port and certificate; nil when no certificate is configured.
    package var tls: (port: UInt16, context: TLSContextSource)?

    package init(listenIP: IPAddress, stunPort: UInt16, alternateIP: IPAddress?, alternatePort: UInt16?, software: String?,
                 tcpIdleTimeoutSeconds: Int, maxTCPConnections: Int, maxConnectionsPerIP: Int, turnThreads: Int) {
        self.listenIP = listenIP
        self.stunPort = stunPort
        self.alternateIP = alternateIP
        self.alternatePort = alternatePort
        self.software = software
        self.tcpIdleTimeoutSeconds = tcpIdleTimeoutSeconds
        self.maxTCPConnections = maxTCPConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.turnThreads = turnThreads
    }
}
