import NIOCore
import NIOPosix
import STUN

/// A TURN client (RFC 8656 §7–§12) over UDP, TCP or TLS: allocation with the long-term credential challenge,
/// permissions, channels, Send indications and ChannelData, refresh. Used by `switchboard turn-check`, tests and
/// benchmarks.
public final class TURNClient: Sendable {
    public var server: TransportAddress { transport.server }
    public let transport: any TURNTransport
    private let username: String
    private let password: String
    private let policy: RetransmissionPolicy
    private let state = AuthState()

    /// Realm, nonce and key learnt from the server's challenge.
    private actor AuthState {
        var realm: String?
        var nonce: String?
        var key: IntegrityKey?

        func update(realm: String?, nonce: String?, username: String, password: String) {
            if let realm, realm != self.realm {
                self.realm = realm
                key = .longTerm(username: username, realm: realm, password: password)
            }
            if let nonce { self.nonce = nonce }
        }

        func current() -> (String?, String?, IntegrityKey?) { (realm, nonce, key) }
    }

    public struct Allocation: Sendable {
        public var relayed: [TransportAddress]
        public var mapped: TransportAddress?
        public var lifetime: UInt32
    }

    public init(username: String, password: String, transport: any TURNTransport,
                policy: RetransmissionPolicy = RetransmissionPolicy(initialRTO: .milliseconds(250), maxRequests: 6)) {
        self.username = username
        self.password = password
        self.transport = transport
        self.policy = policy
    }

    /// Over UDP, from `stun`'s socket.
    public convenience init(server: TransportAddress, username: String, password: String, stun: STUNClient,
                            policy: RetransmissionPolicy = RetransmissionPolicy(initialRTO: .milliseconds(250), maxRequests: 6)) {
        self.init(username: username, password: password, transport: DatagramTURNTransport(stun: stun, server: server),
                  policy: policy)
    }

    public var localAddress: TransportAddress { transport.localAddress }

    /// The next Data indication or ChannelData the server relayed to us, or nil after `timeout`.
    public func nextRelayedData(timeout: TimeAmount) async throws -> STUNClient.RelayedData? {
        try await transport.nextRelayedData(timeout: timeout)
    }

    public func sendRaw(_ bytes: ByteBuffer) async throws {
        try await transport.sendRaw(bytes)
    }

    public func close() async {
        await transport.close()
    }

    /// Sends an authenticated request, answering one 401 challenge or 438 stale nonce by retrying with fresh values.
    /// Error responses other than those are returned for the caller to judge.
    public func request(_ method: STUNMethod, _ attributes: [STUNAttribute]) async throws -> STUNMessage {
        for _ in 0..<3 {
            let (realm, nonce, key) = await state.current()
            var request = STUNMessage(type: STUNMessageType(method: method, messageClass: .request), attributes: attributes)
            var options = STUNMessage.EncodingOptions(fingerprint: true)
            if let realm, let nonce, let key {
                request.attributes += [.username(username), .realm(realm), .nonce(nonce)]
                options.integrityKey = key
            }
            let response = try await transport.transact(request, options: options, policy: policy)
            guard let error = response.errorCode, error.code == 401 || error.code == 438 else { return response }
            // A 401 to a request that already carried our credentials means they are wrong: stop.
            if error.code == 401, key != nil, response.nonce == nonce { return response }
            await state.update(realm: response.realm, nonce: response.nonce, username: username, password: password)
        }
        throw STUNClientError.errorResponse(.unauthorized)
    }

    private func succeed(_ method: STUNMethod, _ attributes: [STUNAttribute]) async throws -> STUNMessage {
        let response = try await request(method, attributes)
        if let error = response.errorCode { throw STUNClientError.errorResponse(error) }
        return response
    }

    /// `relayTransport`: 17 for UDP relays, 6 for RFC 6062 TCP relays (over a stream transport only).
    public func allocate(lifetime: UInt32? = nil, relayTransport: UInt8 = 17, extra: [STUNAttribute] = []) async throws -> Allocation {
        var attributes: [STUNAttribute] = [.requestedTransport(relayTransport)] + extra
        if let lifetime { attributes.append(.lifetime(lifetime)) }
        let response = try await succeed(.allocate, attributes)
        var relayed: [TransportAddress] = []
        var granted: UInt32 = 0
        for attribute in response.attributes {
            if case .xorRelayedAddress(let address) = attribute { relayed.append(address) }
            if case .lifetime(let value) = attribute { granted = value }
        }
        return Allocation(relayed: relayed, mapped: response.xorMappedAddress, lifetime: granted)
    }

    public func refresh(lifetime: UInt32) async throws -> UInt32 {
        let response = try await succeed(.refresh, [.lifetime(lifetime)])
        if case .lifetime(let value)? = response.attribute(.lifetime) { return value }
        return 0
    }

    public func createPermission(_ peers: [TransportAddress]) async throws {
        _ = try await succeed(.createPermission, peers.map { .xorPeerAddress($0) })
    }

    public func bindChannel(_ number: UInt16, to peer: TransportAddress) async throws {
        _ = try await succeed(.channelBind, [.channelNumber(number), .xorPeerAddress(peer)])
    }

    public func send(_ data: ByteBuffer, to peer: TransportAddress) async throws {
        let indication = STUNMessage(type: STUNMessageType(method: .send, messageClass: .indication),
                                     attributes: [.xorPeerAddress(peer), .data(data)])
        try await transport.sendRaw(indication.encoded())
    }

    public func send(_ data: ByteBuffer, onChannel number: UInt16) async throws {
        var out = ByteBufferAllocator().buffer(capacity: data.readableBytes + 4)
        ChannelData.write(channel: number, data: data, stream: transport.isStream, into: &out)
        try await transport.sendRaw(out)
    }
}
