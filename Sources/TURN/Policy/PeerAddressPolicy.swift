import STUN

/// Which peer addresses a TURN allocation may relay to.
///
/// Rules, in order: an operator `deny` block always denies; an operator `allow` block permits (so
/// `--allow-peer 127.0.0.0/8` lets tests relay on loopback); the default deny list denies; anything else is
/// permitted. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`,
/// IPv4-compatible `::/96`) are judged as that IPv4 address, so they cannot be used to slip past the list.
public struct PeerAddressPolicy: Sendable {
    public var allow: [CIDR]
    public var deny: [CIDR]

    /// Addresses a public relay must not reach by default: this host, private and shared networks, link-local,
    /// documentation and benchmarking ranges, multicast, reserved and unspecified.
    public static let defaultDenied: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "100::/64",
    ].map { CIDR($0)! }

    private static let ipv4Embedding: [CIDR] = ["::ffff:0:0/96", "64:ff9b::/96", "::/96"].map { CIDR($0)! }

    public init(allow: [CIDR] = [], deny: [CIDR] = []) {
        self.allow = allow
        self.deny = deny
    }

    /// A CIDR the operator wrote that does not parse.
    public struct InvalidEntry: Error, CustomStringConvertible, Equatable {
        public var entry: String
        public var description: String { "'\(entry)' is not an address or CIDR block" }
    }

    public static func parse(allow: [String], deny: [String]) throws -> PeerAddressPolicy {
        func blocks(_ list: [String]) throws -> [CIDR] {
            try list.map { entry in
                guard let block = CIDR(entry.trimmingSpaces) else { throw InvalidEntry(entry: entry) }
                return block
            }
        }
        return PeerAddressPolicy(allow: try blocks(allow), deny: try blocks(deny))
    }

    public func permits(_ ip: IPAddress) -> Bool {
        let candidates = PeerAddressPolicy.embeddedIPv4(ip).map { [ip, $0] } ?? [ip]
        if deny.contains(where: { block in candidates.contains(where: block.contains) }) { return false }
        if allow.contains(where: { block in candidates.contains(where: block.contains) }) { return true }
        let judged = candidates.last!
        if case .v6 = ip, judged != ip, ip == .v6(high: 0, low: 0) || ip == .v6(high: 0, low: 1) { return false }
        return !PeerAddressPolicy.defaultDenied.contains { $0.contains(judged) }
    }

    private static func embeddedIPv4(_ ip: IPAddress) -> IPAddress? {
        guard case .v6(_, let low) = ip, ipv4Embedding.contains(where: { $0.contains(ip) }) else { return nil }
        return .v4(UInt32(truncatingIfNeeded: low))
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
