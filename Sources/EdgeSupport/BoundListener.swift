import STUN

/// A socket the server listens on, as announced on the readiness line (`stun udp 127.0.0.1:3478`).
public struct BoundListener: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var address: TransportAddress

    public var description: String { "\(name) \(address)" }

    public init(name: String, address: TransportAddress) {
        self.name = name
        self.address = address
    }
}
