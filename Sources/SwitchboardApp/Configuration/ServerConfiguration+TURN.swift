import EdgeSupport
import RelayEdge
import STUN
import TURN

extension ServerConfiguration {
    /// The TURN core's settings derived from the server configuration.
    var turnConfiguration: TURNConfiguration {
        var turn = TURNConfiguration()
        turn.realm = realm
        turn.software = software.isEmpty ? nil : software
        turn.maxAllocations = totalQuota
        turn.maxAllocationsPerUser = userQuota
        turn.maxBytesPerSecondPerAllocation = maxBps
        turn.maximumLifetime = UInt32(clamping: maxAllocateLifetime)
        turn.relayPorts = relayPorts
        turn.alternateServer = alternateServer
        for ip in [relayIP ?? (listenIP.isUnspecified ? nil : listenIP)].compactMap({ $0 }) {
            if ip.family == .ipv4 { turn.relayIPv4 = ip } else { turn.relayIPv6 = ip }
        }
        if let externalIP {
            if externalIP.family == .ipv4 { turn.externalIPv4 = externalIP } else { turn.externalIPv6 = externalIP }
        }
        return turn
    }

    /// Static users and REST shared secrets, asked in that order.
    func credentialStore(secrets: [String]) -> any CredentialStore {
        CompositeCredentialStore([
            StaticCredentials(users: users.map { (name: $0.name, password: $0.password) }),
            RESTCredentials(secrets: secrets),
        ])
    }

    func peerPolicy() throws -> PeerAddressPolicy {
        do {
            return try PeerAddressPolicy.parse(allow: allowPeers, deny: denyPeers)
        } catch {
            throw ConfigurationError(source: "configuration", key: "allow-peer/deny-peer", problem: "\(error)")
        }
    }

    /// What the relay edge's listeners are told; `tls` serves STUN/TURN over TLS on `--tls-port`.
    func relayListenerSettings(tls: TLSContextSource?) -> RelayListenerSettings {
        var settings = RelayListenerSettings(
            listenIP: listenIP, stunPort: stunPort, alternateIP: alternateIP, alternatePort: alternatePort,
            software: software.isEmpty ? nil : software, tcpIdleTimeoutSeconds: tcpIdleTimeoutSeconds,
            maxTCPConnections: maxTCPConnections, maxConnectionsPerIP: maxConnectionsPerIP, turnThreads: turnThreads)
        settings.tls = tls.map { (tlsPort, $0) }
        settings.turnWakeUpInterval = .microseconds(turnWakeUpIntervalMicroseconds)
        return settings
    }

    /// The user quota, held to `--user-relay-share` of the relay range: each allocation takes at least one port,
    /// so without this one credential holder could take the whole range and leave everyone else 508.
    var perUserAllocations: Int {
        let rangeSize = Int(relayPorts.upperBound) - Int(relayPorts.lowerBound) + 1
        let share = max(1, rangeSize * userRelayShare / 100)
        return min(userQuota, share)
    }
}
