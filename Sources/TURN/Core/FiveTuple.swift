import STUN

/// The transport between a TURN client and the server.
public enum ClientTransport: UInt8, Hashable, Sendable {
    case udp, tcp, tls, dtls

    /// Stream transports pad ChannelData to a multiple of 4 (RFC 8656 §12.5).
    public var isStream: Bool { self == .tcp || self == .tls }
}

/// Client address, server address and transport: the key of an allocation (RFC 8656 §2).
public struct FiveTuple: Hashable, Sendable, CustomStringConvertible {
    public var client: TransportAddress
    public var server: TransportAddress
    public var transport: ClientTransport

    public init(client: TransportAddress, server: TransportAddress, transport: ClientTransport) {
        self.client = client
        self.server = server
        self.transport = transport
    }

    public var description: String { "\(transport) \(client)→\(server)" }
}
