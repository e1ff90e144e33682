import STUN

/// An address block such as `10.0.0.0/8` or `fe80::/10`, as operators write them in `--allow-peer` / `--deny-peer`.
///
/// Host bits are masked off on construction, so `10.1.2.3/8` and `10.0.0.0/8` are the same block and compare equal.
/// A block only ever contains addresses of its own family: IPv4-mapped and other IPv4-embedding IPv6 forms are a
/// question of policy, answered by `PeerAddressPolicy`, not of address arithmetic.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The network address, with every bit past `prefixLength` cleared.
    public let address: IPAddress
    /// Leading bits that must match: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// Parses `ADDRESS/PREFIX`; a bare address is a single host (/32 or /128). Returns nil for anything else,
    /// including a prefix longer than the family allows, a sign or spaces in the prefix, or an IPv6 zone index.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let ip = IPAddress(parts[0]) else { return nil }
        let maximum = ip.family == .ipv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            let digits = parts[1]
            // `Int("+8")` succeeds; an operator's typo should not.
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ ("0"..."9").contains($0) }),
                  let parsed = Int(digits), parsed <= maximum else { return nil }
            length = parsed
        }
        self.init(address: ip, prefixLength: length)
    }

    /// A block from an address and a prefix length, which is clamped to what the address family allows.
    public init(address: IPAddress, prefixLength: Int) {
        let maximum = address.family == .ipv4 ? 32 : 128
        let length = min(max(prefixLength, 0), maximum)
        self.prefixLength = length
        self.address = CIDR.mask(address, length)
    }

    /// Whether `ip` lies inside the block. Always false across address families.
    public func contains(_ ip: IPAddress) -> Bool {
        guard ip.family == address.family else { return false }
        return CIDR.mask(ip, prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func mask(_ ip: IPAddress, _ length: Int) -> IPAddress {
        switch ip {
        case .v4(let value):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - length)
            return .v4(value & mask)
        case .v6(let high, let low):
            let highMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << (64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << (128 - length))
            return .v6(high: high & highMask, low: low & lowMask)
        }
    }
}
