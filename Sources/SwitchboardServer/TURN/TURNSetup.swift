import Crypto
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
}

/// A random shared secret for the TURN REST scheme when the operator gave none.
func generatedAuthSecret() -> String {
    SymmetricKey(size: .bits256).withUnsafeBytes { bytes in
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 0x10 ? "0" + hex : hex
        }.joined()
    }
}
