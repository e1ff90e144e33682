import STUN

/// Which peer addresses a TURN allocation may reach (CreatePermission, ChannelBind, Send and relayed data).
///
/// A relay that reaches anything its clients name is an open proxy into the operator's own networks, so a
/// built-in deny list applies unless the operator says otherwise. Rules, first match wins:
///
/// 1. an operator `deny` block denies, always, even when an `allow` block also matches;
/// 2. an operator `allow` block permits — this is how `--allow-peer 127.0.0.0/8` lets tests relay on loopback;
/// 3. a block of ``defaultDenied`` denies;
/// 4. anything else is permitted.
///
/// IPv6 addresses that carry an IPv4 address — IPv4-mapped `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`
/// (RFC 2765), NAT64 `64:ff9b::/96`, the deprecated IPv4-compatible `::/96` (other than `::` and `::1`) and 6to4
/// `2002::/16` — are judged by the IPv4 address inside them, so `::ffff:127.0.0.1` cannot slip past the list while
/// `::ffff:8.8.8.8` and a NAT64 path to a public host still work. The forms whose IPv4 address cannot be read
/// with certainty are denied whole: local-use NAT64 `64:ff9b:1::/48` (the site picks the prefix length) and Teredo
/// `2001::/32` (inside the IETF block `2001::/23`; it carries a server and an obfuscated client address). Operator blocks match either form: allowing `127.0.0.0/8` also allows `::ffff:127.0.0.1`, and
/// denying `64:ff9b::/96` shuts NAT64 off entirely.
public struct PeerAddressPolicy: Sendable {
    /// Operator blocks that win over the default deny list.
    public var allow: [CIDR]
    /// Operator blocks that win over everything.
    public var deny: [CIDR]

    /// Addresses a public relay must not reach unless the operator allows them: this host, private, shared (CGNAT)
    /// and link-local networks, IETF protocol assignments, documentation and benchmarking ranges, the deprecated
    /// 6to4 relay anycast block, multicast, reserved, broadcast and unspecified addresses. Mostly the IANA
    /// special-purpose registries' "not globally reachable" entries.
    ///
    /// Beyond the usual list this includes `192.88.99.0/24` (6to4 relay anycast, deprecated by RFC 7526: no WebRTC
    /// peer lives there, and it leads into tunnel infrastructure), `100::/64` (discard-only), `2001:2::/48`
    /// (benchmarking), `3fff::/20` (documentation, RFC 9637), `64:ff9b:1::/48` (local-use NAT64, RFC 8215: a
    /// site's own translator) and `fec0::/10` (deprecated site-local, still found on private networks).
    public static let defaultDenied: [CIDR] = [
        // IPv4
        "0.0.0.0/8",        // "this network"
        "10.0.0.0/8",       // private
        "100.64.0.0/10",    // shared address space (CGNAT)
        "127.0.0.0/8",      // loopback
        "169.254.0.0/16",   // link-local (and cloud metadata services at 169.254.169.254)
        "172.16.0.0/12",    // private
        "192.0.0.0/24",     // IETF protocol assignments
        "192.0.2.0/24",     // documentation (TEST-NET-1)
        "192.88.99.0/24",   // 6to4 relay anycast (deprecated)
        "192.168.0.0/16",   // private
        "198.18.0.0/15",    // benchmarking
        "198.51.100.0/24",  // documentation (TEST-NET-2)
        "203.0.113.0/24",   // documentation (TEST-NET-3)
        "224.0.0.0/4",      // multicast
        "240.0.0.0/4",      // reserved, including broadcast 255.255.255.255
        // IPv6
        "::/128",           // unspecified
        "::1/128",          // loopback
        "::/8",             // reserved by the IETF (the embedded IPv4 forms in it are judged by their IPv4)
        "64:ff9b:1::/48",   // local-use NAT64
        "100::/64",         // discard-only
        "100:0:0:1::/64",   // dummy prefix (RFC 9780)
        "2001::/23",        // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
        "2001:db8::/32",    // documentation
        "3fff::/20",        // documentation
        "5f00::/16",        // segment routing SIDs (RFC 9602)
        "fc00::/7",         // unique local
        "fe80::/10",        // link-local
        "fec0::/10",        // site-local (deprecated)
        "ff00::/8",         // multicast
    ].map { CIDR($0)! }

    private static let defaultDeniedIPv4 = defaultDenied.filter { $0.address.family == .ipv4 }
    private static let defaultDeniedIPv6 = defaultDenied.filter { $0.address.family == .ipv6 }

    public init(allow: [CIDR] = [], deny: [CIDR] = []) {
        self.allow = allow
        self.deny = deny
    }

    /// An operator's allow or deny entry that is not an address or CIDR block; startup should stop on it rather
    /// than run with a policy the operator did not mean.
    public struct InvalidEntry: Error, CustomStringConvertible, Equatable {
        /// Which list the entry came from.
        public enum List: String, Sendable {
            case allow = "allow-peer"
            case deny = "deny-peer"
        }

        public var list: List
        public var entry: String

        public init(list: List, entry: String) {
            self.list = list
            self.entry = entry
        }

        public var description: String {
            "\(list.rawValue) entry '\(entry)' is not an IP address or CIDR block (such as 10.0.0.0/8 or fe80::/10)"
        }
    }

    /// Builds a policy from operator text (flags, environment, configuration file). Surrounding whitespace is
    /// ignored; the first entry that does not parse is thrown as ``InvalidEntry``.
    public static func parse(allow: [String], deny: [String]) throws -> PeerAddressPolicy {
        func blocks(_ entries: [String], _ list: InvalidEntry.List) throws -> [CIDR] {
            try entries.map { entry in
                let trimmed = entry.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
                guard let block = CIDR(String(trimmed)) else { throw InvalidEntry(list: list, entry: entry) }
                return block
            }
        }
        return PeerAddressPolicy(allow: try blocks(allow, .allow), deny: try blocks(deny, .deny))
    }

    /// Whether a TURN client may exchange data with `ip`. Called for every relayed datagram, so it only compares
    /// integers.
    public func permits(_ ip: IPAddress) -> Bool {
        let embedded = PeerAddressPolicy.embeddedIPv4(in: ip)
        func matches(_ block: CIDR) -> Bool {
            if block.contains(ip) { return true }
            if let embedded { return block.contains(embedded) }
            return false
        }
        if deny.contains(where: matches) { return false }
        if allow.contains(where: matches) { return true }
        let judged = embedded ?? ip
        let defaults = judged.family == .ipv4 ? PeerAddressPolicy.defaultDeniedIPv4 : PeerAddressPolicy.defaultDeniedIPv6
        return !defaults.contains { $0.contains(judged) }
    }

    /// The IPv4 address an IPv6 address stands for, when the kernel or the network would deliver it to that IPv4
    /// host (or to a translator in front of it).
    private static func embeddedIPv4(in ip: IPAddress) -> IPAddress? {
        guard case .v6(let high, let low) = ip else { return nil }
        switch high {
        case 0:
            switch low >> 32 {
            case 0x0000_FFFF:  // ::ffff:a.b.c.d, IPv4-mapped
                return .v4(UInt32(truncatingIfNeeded: low))
            case 0xFFFF_0000:  // ::ffff:0:a.b.c.d, IPv4-translated
                return .v4(UInt32(truncatingIfNeeded: low))
            case 0 where low > 1:  // ::a.b.c.d, IPv4-compatible; `::` and `::1` are IPv6's own
                return .v4(UInt32(truncatingIfNeeded: low))
            default:
                return nil
            }
        case 0x0064_FF9B_0000_0000 where low >> 32 == 0:  // 64:ff9b::a.b.c.d, NAT64 well-known prefix
            return .v4(UInt32(truncatingIfNeeded: low))
        default:
            if high >> 48 == 0x2002 {  // 2002:AABB:CCDD::/48, 6to4
                return .v4(UInt32(truncatingIfNeeded: high >> 16))
            }
            return nil
        }
    }
}
