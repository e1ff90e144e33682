import NIOCore


extension TransportAddress {
    /// Nil for Unix-domain addresses, which STUN never sees.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            let ip = UInt32(bigEndian: v4.address.sin_addr.s_addr)
            self.init(ip: .v4(ip), port: UInt16(bigEndian: v4.address.sin_port))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            guard let ip = IPAddress(bytes: bytes) else { return nil }
            self.init(ip: ip, port: UInt16(bigEndian: v6.address.sin6_port))
        case .unixDomainSocket:
            return nil
        }
    }

    public var socketAddress: SocketAddress {
        // Both forms are numeric, so this never resolves a name.
        try! SocketAddress(ipAddress: ip.description, port: Int(port))
    }
}
