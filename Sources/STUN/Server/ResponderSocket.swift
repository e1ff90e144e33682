/// Which of a server's (up to) four STUN sockets, relative to the primary address and port.
///
/// RFC 5780 puts a server on two IPs × two ports; a request arriving on one socket may ask for the response
/// to leave from the socket with the other IP, the other port, or both.
public struct ResponderSocket: Hashable, Sendable, CustomStringConvertible {
    public var alternateIP: Bool
    public var alternatePort: Bool

    public init(alternateIP: Bool, alternatePort: Bool) {
        self.alternateIP = alternateIP
        self.alternatePort = alternatePort
    }

    public static let primary = ResponderSocket(alternateIP: false, alternatePort: false)
    public static let all: [ResponderSocket] = [
        .primary,
        ResponderSocket(alternateIP: false, alternatePort: true),
        ResponderSocket(alternateIP: true, alternatePort: false),
        ResponderSocket(alternateIP: true, alternatePort: true),
    ]

    /// The socket a CHANGE-REQUEST asks to answer from.
    public func changed(by request: ChangeRequest) -> ResponderSocket {
        ResponderSocket(alternateIP: alternateIP != request.contains(.changeIP),
                        alternatePort: alternatePort != request.contains(.changePort))
    }

    /// Index 0…3, for array-backed lookups on the hot path.
    public var index: Int { (alternateIP ? 2 : 0) + (alternatePort ? 1 : 0) }

    public var description: String {
        "\(alternateIP ? "alternate" : "primary")-ip/\(alternatePort ? "alternate" : "primary")-port"
    }
}

/// The addresses a STUN server answers from.
public struct ResponderAddresses: Hashable, Sendable {
    /// The primary address and port. An unspecified IP (0.0.0.0 / ::) means "whatever the request was sent to".
    public var primary: TransportAddress
    /// The RFC 5780 alternate IP and port; nil when the server has one address.
    public var alternate: TransportAddress?

    public init(primary: TransportAddress, alternate: TransportAddress? = nil) {
        self.primary = primary
        self.alternate = alternate
    }

    /// The local address of a socket, or nil when that socket does not exist.
    public func address(of socket: ResponderSocket) -> TransportAddress? {
        if socket == .primary { return primary }
        guard let alternate else { return nil }
        return TransportAddress(ip: socket.alternateIP ? alternate.ip : primary.ip,
                                port: socket.alternatePort ? alternate.port : primary.port)
    }
}
