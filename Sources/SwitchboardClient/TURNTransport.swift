import NIOCore
import STUN

/// How a `TURNClient` reaches its server: a UDP socket (`STUNClient`), or one TCP or TLS connection
/// (`STUNStreamClient`). Requests are matched to responses by transaction id either way; only UDP retransmits.
public protocol TURNTransport: Sendable {
    var server: TransportAddress { get }
    var localAddress: TransportAddress { get }
    /// Stream transports pad ChannelData to 4 bytes (RFC 8656 §12.5).
    var isStream: Bool { get }
    /// Sends `request` and returns the response with its transaction id (error responses included).
    func transact(_ request: STUNMessage, options: STUNMessage.EncodingOptions,
                  policy: RetransmissionPolicy) async throws -> STUNMessage
    /// Sends bytes that get no answer (indications, ChannelData).
    func sendRaw(_ bytes: ByteBuffer) async throws
    /// The next Data indication or ChannelData from the server, or nil after `timeout`.
    func nextRelayedData(timeout: TimeAmount) async throws -> STUNClient.RelayedData?
    func close() async
}

/// TURN over UDP: one `STUNClient` socket talking to one server.
public struct DatagramTURNTransport: TURNTransport {
    public let server: TransportAddress
    public let stun: STUNClient

    public init(stun: STUNClient, server: TransportAddress) {
        self.stun = stun
        self.server = server
    }

    public var localAddress: TransportAddress { stun.localAddress }
    public var isStream: Bool { false }

    public func transact(_ request: STUNMessage, options: STUNMessage.EncodingOptions,
                         policy: RetransmissionPolicy) async throws -> STUNMessage {
        try await stun.transact(request, to: server, policy: policy, options: options).message
    }

    public func sendRaw(_ bytes: ByteBuffer) async throws {
        try await stun.sendRaw(bytes, to: server)
    }

    public func nextRelayedData(timeout: TimeAmount) async throws -> STUNClient.RelayedData? {
        try await stun.nextRelayedData(timeout: timeout)
    }

    public func close() async {
        await stun.close()
    }
}
