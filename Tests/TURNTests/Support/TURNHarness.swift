import NIOCore
import STUN
import TURN
import XCTest

/// A TURN core on a fake clock with a pretend edge: relay sockets "open" at once (or fail, when told to), and
/// everything the core sends is recorded. Messages go through the real codec both ways.
final class TURNHarness {
    struct PeerSend: Equatable {
        var data: [UInt8]
        var relay: TransportAddress
        var peer: TransportAddress
    }

    let clock = FakeClock()
    let core: TURNServerCore
    let realm: String
    /// Server address clients reach (IPv4) and the IPv6 one, as a listener would report them.
    static let serverV4 = TransportAddress("127.0.0.1:3478")!
    static let serverV6 = TransportAddress("[::1]:3478")!

    private(set) var opened: [TransportAddress] = []
    private(set) var closed: [TransportAddress] = []
    private(set) var sentToPeers: [PeerSend] = []
    private(set) var sentToClients: [(bytes: ByteBuffer, fiveTuple: FiveTuple)] = []
    /// Relay opens to fail before succeeding again (a port held by another process).
    var failingOpens = 0
    /// RFC 6062: what the core asked of the edge's TCP sockets.
    private(set) var openedTCP: [TransportAddress] = []
    private(set) var peerConnects: [(id: UInt32, relay: TransportAddress, peer: TransportAddress)] = []
    private(set) var bound: [(id: UInt32, data: FiveTuple, response: STUNMessage?)] = []
    private(set) var closedPeerConnections: [UInt32] = []
    /// Lifecycle events, in order.
    var events: [TURNEvent] = []
    /// The traffic of each `allocation.closed` among `events`.
    var closedTraffic: [AllocationTraffic.Snapshot] {
        events.compactMap { event in
            if case .allocationClosed(_, _, let traffic) = event { return traffic }
            return nil
        }
    }
    /// What the core handed a kernel fast path, and what it took back.
    var kernelRoutes: [ChannelRoute.Key: ChannelRoute] = [:]
    var unrouted: [ChannelRoute.Key] = []
    /// What the harness, playing the fast path, reports as forwarded when a route is removed.
    var kernelCountsOnRemoval = KernelRouteCounts()
    /// When set, removals are kept here instead of answered at once (a client's thread answers later).
    var holdRouteRemovals = false
    private(set) var heldRemovals: [ChannelRoute.Key] = []
    /// What a TCP relay's data connections carried since the last report, as the edge answers its close.
    var streamCountsOnClose = AllocationTraffic.Snapshot()

    init(users: [(name: String, password: String)] = [("alice", "alice-password"), ("bob", "bob-password")],
         secrets: [String] = ["rest-secret"], allow: [String] = ["127.0.0.0/8", "::1/128"], deny: [String] = [],
         ledger: AllocationLedger? = nil, configure: (inout TURNConfiguration) -> Void = { _ in }) {
        var configuration = TURNConfiguration()
        configuration.relayPorts = 50_000...50_999
        configure(&configuration)
        realm = configuration.realm
        let credentials = CompositeCredentialStore([StaticCredentials(users: users), RESTCredentials(secrets: secrets)])
        core = TURNServerCore(configuration: configuration, credentials: credentials,
                              policy: try! PeerAddressPolicy.parse(allow: allow, deny: deny), clock: clock, ledger: ledger)
    }

    func client(_ address: String = "127.0.0.1:40000", transport: ClientTransport = .udp,
                username: String = "alice", password: String = "alice-password") -> TURNTestClient {
        let client = TransportAddress(address)!
        let server = client.ip.family == .ipv4 ? Self.serverV4 : Self.serverV6
        return TURNTestClient(harness: self, fiveTuple: FiveTuple(client: client, server: server, transport: transport),
                              username: username, password: password)
    }

    /// Runs one core entry point and plays the edge for what it asks, returning what went to clients.
    @discardableResult
    func drive(_ body: (inout [TURNAction]) -> Void) -> [(bytes: ByteBuffer, fiveTuple: FiveTuple)] {
        var actions: [TURNAction] = []
        body(&actions)
        var delivered: [(bytes: ByteBuffer, fiveTuple: FiveTuple)] = []
        while !actions.isEmpty {
            let action = actions.removeFirst()
            switch action {
            case .toClient(let bytes, let fiveTuple):
                delivered.append((bytes, fiveTuple))
                sentToClients.append((bytes, fiveTuple))
            case .toPeer(let data, let relay, let peer):
                sentToPeers.append(PeerSend(data: Array(data.readableBytesView), relay: relay, peer: peer))
            case .openRelay(let relay, _):
                var more: [TURNAction] = []
                if failingOpens > 0 {
                    failingOpens -= 1
                    core.relayFailed(relay, into: &more)
                } else {
                    opened.append(relay)
                    core.relayOpened(relay, into: &more)
                }
                actions.append(contentsOf: more)
            case .closeRelay(let relay):
                closed.append(relay)
                // As the edge does: a TCP relay's last traffic count follows its close.
                if openedTCP.contains(relay) {
                    var more: [TURNAction] = []
                    core.streamRelayClosed(relay, streamCountsOnClose, into: &more)
                    actions.append(contentsOf: more)
                }
            case .openTCPRelay(let relay):
                openedTCP.append(relay)
                var more: [TURNAction] = []
                core.relayOpened(relay, into: &more)
                actions.append(contentsOf: more)
            case .connectPeer(let id, let relay, let peer):
                peerConnects.append((id, relay, peer))
            case .bindConnection(let id, let data, _, let response):
                bound.append((id, data, try? STUNMessage(decoding: response)))
            case .closePeerConnection(let id):
                closedPeerConnections.append(id)
            case .event(let event):
                events.append(event)
            case .routeChannel(let route):
                kernelRoutes[route.key] = route
            case .unrouteChannel(let route):
                kernelRoutes[route.key] = nil
                unrouted.append(route.key)
                if holdRouteRemovals {
                    heldRemovals.append(route.key)
                    continue
                }
                var more: [TURNAction] = []
                core.kernelRouteRemoved(route.key, kernelCountsOnRemoval, into: &more)
                actions.append(contentsOf: more)
            }
        }
        return delivered
    }

    /// Answers the removals `holdRouteRemovals` kept, each with `counts`.
    func answerHeldRemovals(_ counts: KernelRouteCounts = KernelRouteCounts()) {
        let keys = heldRemovals
        heldRemovals = []
        drive { actions in for key in keys { core.kernelRouteRemoved(key, counts, into: &actions) } }
    }

    func expire() {
        drive { core.expire(into: &$0) }
    }

    /// A datagram from a peer on a relay socket; returns what reached the client.
    func peerSends(_ bytes: [UInt8], from peer: TransportAddress, to relay: TransportAddress) -> [(bytes: ByteBuffer, fiveTuple: FiveTuple)] {
        drive { core.handlePeerDatagram(ByteBuffer(bytes: bytes), from: peer, relay: relay, into: &$0) }
    }

    func clearPeerSends() { sentToPeers.removeAll() }
}

/// A TURN client on one 5-tuple that speaks to the harness: learns the realm and nonce from the first 401 and
/// signs every later request with the long-term key.
final class TURNTestClient {
    let harness: TURNHarness
    let fiveTuple: FiveTuple
    var username: String
    var password: String
    var realm: String?
    var nonce: String?
    var integrity: IntegrityAlgorithm = .sha1
    var passwordAlgorithm: PasswordAlgorithm?

    init(harness: TURNHarness, fiveTuple: FiveTuple, username: String, password: String) {
        self.harness = harness
        self.fiveTuple = fiveTuple
        self.username = username
        self.password = password
    }

    var key: IntegrityKey {
        IntegrityKey.longTerm(username: username, realm: realm ?? harness.realm, password: password,
                              algorithm: passwordAlgorithm ?? .md5)
    }

    /// Sends raw bytes as this client and returns the decoded messages that came back to this 5-tuple.
    func sendRaw(_ bytes: ByteBuffer) -> [STUNMessage] {
        let message: STUNMessage
        do {
            message = try STUNMessage(decoding: bytes)
        } catch {
            XCTFail("test built an undecodable message: \(error)")
            return []
        }
        return harness.drive { harness.core.handleClientMessage(message, from: fiveTuple, into: &$0) }
            .filter { $0.fiveTuple == fiveTuple }
            .compactMap { try? STUNMessage(decoding: $0.bytes) }
    }

    /// A request without credentials; remembers REALM and NONCE from a challenge.
    @discardableResult
    func unauthenticated(_ method: STUNMethod, _ attributes: [STUNAttribute] = []) -> STUNMessage? {
        let request = STUNMessage(type: STUNMessageType(method: method, messageClass: .request), attributes: attributes)
        let response = sendRaw(request.encoded(options: .init(fingerprint: true))).last
        learn(from: response)
        return response
    }

    func learn(from response: STUNMessage?) {
        guard let response, let code = response.errorCode?.code, code == 401 || code == 438 else { return }
        if let realm = response.realm { self.realm = realm }
        if let nonce = response.nonce { self.nonce = nonce }
    }

    /// The bytes of a signed request (for retransmission tests).
    func signed(_ method: STUNMethod, _ attributes: [STUNAttribute], transactionID: TransactionID = .random()) -> ByteBuffer {
        if nonce == nil { unauthenticated(method == .allocate ? .allocate : method, method == .allocate ? [.requestedTransport(17)] : []) }
        var all = attributes
        all.append(.username(username))
        all.append(.realm(realm ?? harness.realm))
        all.append(.nonce(nonce ?? ""))
        if let passwordAlgorithm {
            all.append(.passwordAlgorithms(LongTermAuthenticator.supportedAlgorithms))
            all.append(.passwordAlgorithm(passwordAlgorithm))
        }
        let request = STUNMessage(type: STUNMessageType(method: method, messageClass: .request),
                                  transactionID: transactionID, attributes: all)
        return request.encoded(options: .init(integrityKey: key, integrityAlgorithms: [integrity], fingerprint: true))
    }

    /// A signed request; the single response it got (nil when the core stayed silent).
    @discardableResult
    func request(_ method: STUNMethod, _ attributes: [STUNAttribute] = [],
                 transactionID: TransactionID = .random()) -> STUNMessage? {
        let responses = sendRaw(signed(method, attributes, transactionID: transactionID))
        XCTAssertLessThanOrEqual(responses.count, 1, "one request, at most one response")
        learn(from: responses.last)
        return responses.last
    }

    /// Allocate with REQUESTED-TRANSPORT UDP plus `extra`.
    @discardableResult
    func allocate(_ extra: [STUNAttribute] = []) -> STUNMessage? {
        request(.allocate, [.requestedTransport(17)] + extra)
    }

    /// Allocates and returns the IPv4 relayed address, failing the test otherwise.
    func allocated(lifetime: UInt32? = nil, file: StaticString = #filePath, line: UInt = #line) -> TransportAddress {
        let response = allocate(lifetime.map { [.lifetime($0)] } ?? [])
        guard let response, response.type.messageClass == .successResponse, let relay = response.relayedAddresses.first else {
            XCTFail("Allocate failed: \(String(describing: response?.errorCode))", file: file, line: line)
            return TransportAddress(ip: .v4(0), port: 0)
        }
        return harness.core.relayAddresses(of: fiveTuple).first ?? relay
    }

    func createPermission(_ peers: TransportAddress...) -> STUNMessage? {
        request(.createPermission, peers.map { .xorPeerAddress($0) })
    }

    func bindChannel(_ number: UInt16, _ peer: TransportAddress) -> STUNMessage? {
        request(.channelBind, [.channelNumber(number), .xorPeerAddress(peer)])
    }

    func refresh(_ lifetime: UInt32? = nil) -> STUNMessage? {
        request(.refresh, lifetime.map { [.lifetime($0)] } ?? [])
    }

    func sendIndication(_ data: [UInt8], to peer: TransportAddress) {
        let indication = STUNMessage(type: STUNMessageType(method: .send, messageClass: .indication),
                                     attributes: [.xorPeerAddress(peer), .data(ByteBuffer(bytes: data))])
        _ = sendRaw(indication.encoded(options: .init(fingerprint: true)))
    }

    /// ChannelData from this client; returns what came back (nothing, normally).
    @discardableResult
    func sendChannelData(_ bytes: [UInt8]) -> [(bytes: ByteBuffer, fiveTuple: FiveTuple)] {
        harness.drive { harness.core.handleClientChannelData(ByteBuffer(bytes: bytes), from: fiveTuple, into: &$0) }
    }

    func sendChannelData(channel: UInt16, _ data: [UInt8]) {
        var out = ByteBuffer()
        ChannelData.write(channel: channel, data: ByteBuffer(bytes: data), stream: fiveTuple.transport.isStream, into: &out)
        sendChannelData(Array(out.readableBytesView))
    }
}

extension STUNMessage {
    var relayedAddresses: [TransportAddress] {
        attributes.compactMap {
            if case .xorRelayedAddress(let address) = $0 { return address }
            return nil
        }
    }

    var lifetime: UInt32? {
        if case .lifetime(let value)? = attribute(.lifetime) { return value }
        return nil
    }

    var isSuccess: Bool { type.messageClass == .successResponse }
}

func XCTAssertError(_ response: STUNMessage?, _ code: UInt16, _ message: String = "", file: StaticString = #filePath,
                    line: UInt = #line) {
    guard let response else { return XCTFail("no response, expected \(code) \(message)", file: file, line: line) }
    XCTAssertEqual(response.type.messageClass, .errorResponse, "expected error \(code) \(message)", file: file, line: line)
    XCTAssertEqual(response.errorCode?.code, code, "\(response.errorCode?.reason ?? "") \(message)", file: file, line: line)
}

func XCTAssertSuccess(_ response: STUNMessage?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let response else { return XCTFail("no response \(message)", file: file, line: line) }
    XCTAssertEqual(response.type.messageClass, .successResponse,
                   "error \(response.errorCode?.code ?? 0) \(response.errorCode?.reason ?? "") \(message)", file: file, line: line)
}
