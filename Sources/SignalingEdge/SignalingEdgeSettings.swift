import EdgeSupport
import Signaling
import STUN

/// What the signaling edge needs to know, filled in by the app from its settings.
package struct SignalingEdgeSettings: Sendable {
    package var listenIP: IPAddress
    package var httpPort: UInt16
    /// HS256 secret and ES256 public key (PEM text) for signaling tokens; neither: open signaling.
    package var jwtSecret: String?
    package var jwtPublicKeyPEM: String?
    /// The TURN REST secret credentials on join are made with, and the STUN/TURN port the URLs name.
    package var turnSecret: String
    package var stunPort: UInt16
    /// The ports `turns:` URLs name (the TLS listener's, the one-port mux's); empty when TLS is not served.
    package var turnsPorts: [UInt16] = []
    /// URL hosts for `iceServers`; empty: the address each client reached.
    package var publicHosts: [String]
    package var allowedOrigins: [String]
    package var limits: SignalingLimits
    package var requestLimits: HTTPRequestLimits
    package var maxConnections: Int
    package var maxConnectionsPerIP: Int

    package init(listenIP: IPAddress, httpPort: UInt16, jwtSecret: String?, jwtPublicKeyPEM: String?, turnSecret: String,
                 stunPort: UInt16, publicHosts: [String], allowedOrigins: [String], limits: SignalingLimits,
                 requestLimits: HTTPRequestLimits, maxConnections: Int, maxConnectionsPerIP: Int) {
        self.listenIP = listenIP
        self.httpPort = httpPort
        self.jwtSecret = jwtSecret
        self.jwtPublicKeyPEM = jwtPublicKeyPEM
        self.turnSecret = turnSecret
        self.stunPort = stunPort
        self.publicHosts = publicHosts
        self.allowedOrigins = allowedOrigins
        self.limits = limits
        self.requestLimits = requestLimits
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
    }
}
