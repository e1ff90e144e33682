// Microbenchmarks of the hot paths, with malloc counts (package-benchmark's malloc interposer).
// Run: SWITCHBOARD_MICROBENCHMARKS=1 swift package --scratch-path .build-micro benchmark --target CoreBenchmarks
import Benchmark
import NIOCore
import Signaling
import STUN
import TURN

let metrics: [BenchmarkMetric] = [.mallocCountTotal, .wallClock, .cpuTotal]
/// 1,000 operations per measurement, reported per operation: the harness's own allocations in each measurement
/// (16 here) then round to 0 instead of being added to every figure. Buffers the operations write into are made once,
/// outside the measurement, as the server makes them once per read burst.
nonisolated(unsafe) let configuration = Benchmark.Configuration(metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2),
                                            maxIterations: 2_000)

let benchmarks: @Sendable () -> Void = {
    let client = TransportAddress("192.0.2.10:40000")!
    let server = TransportAddress("127.0.0.1:3478")!

    // STUN: decode a Binding request, and answer it into a reused buffer.
    let request = STUNMessage(type: .bindingRequest).encoded(options: .init(fingerprint: true))
    Benchmark("STUN decode Binding request", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? STUNMessage(decoding: request))
        }
    }
    let responder = BindingResponder(addresses: ResponderAddresses(primary: server))
    let scratch = Scratch()
    Benchmark("STUN Binding request to response", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            scratch.buffer.clear()
            blackHole(responder.handle(request, from: client, receivedOn: .primary, localAddress: server, transport: .udp,
                                       into: &scratch.buffer))
        }
    }

    // TURN: one allocation with channel 0x4000 bound to a peer; forward ChannelData client → peer.
    let relay = TURNForwardSetup()
    Benchmark("TURN ChannelData client to peer", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            relay.core.handleClientChannelData(relay.channelData, from: relay.fiveTuple, into: &scratch.turnActions)
            precondition(scratch.turnActions.count == 1)
            scratch.turnActions.removeAll(keepingCapacity: true)
        }
    }
    // The edge's path: route, then frame into a buffer reused across the read burst.
    Benchmark("TURN peer datagram to client", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            scratch.buffer.clear()
            let route = relay.core.routePeerDatagram(length: relay.payload.readableBytes, from: relay.peer, relay: relay.relay)
            route.frame(relay.payload, from: relay.peer, into: &scratch.buffer)
            precondition(scratch.buffer.readableBytes == 104)
        }
    }

    // Signaling: a signal frame from one peer of a room of 10 to another.
    let room = SignalingRoomSetup(size: 10)
    Benchmark("Signaling signal to one peer", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            room.now += 0.05  // the clock only moves forward, at 20 frames/s: under the per-session rate limit
            room.core.receive(room.signal, from: room.sessions[0], now: room.now, into: &scratch.signalingActions)
            precondition(scratch.signalingActions.count == 1, "the signal must be delivered")
            scratch.signalingActions.removeAll(keepingCapacity: true)
        }
    }
    Benchmark("Signaling broadcast to a room of 10", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            room.now += 0.05
            room.core.receive(room.broadcast, from: room.sessions[1], now: room.now, into: &scratch.signalingActions)
            precondition(scratch.signalingActions.count == 9, "the broadcast must reach the other 9")
            scratch.signalingActions.removeAll(keepingCapacity: true)
        }
    }
}

/// What the operations write into, made once: the server reuses its buffers and action arrays the same way.
final class Scratch: @unchecked Sendable {
    var buffer = ByteBufferAllocator().buffer(capacity: 2048)
    var turnActions: [TURNAction] = []
    var signalingActions: [SignalingCore.Action] = []

    init() {
        turnActions.reserveCapacity(4)
        signalingActions.reserveCapacity(16)
    }
}

/// A TURN core with one authenticated allocation and a channel bound, driven through real STUN messages.
final class TURNForwardSetup: @unchecked Sendable {
    let core: TURNServerCore
    let fiveTuple = FiveTuple(client: TransportAddress("192.0.2.10:40000")!, server: TransportAddress("127.0.0.1:3478")!,
                              transport: .udp)
    let peer = TransportAddress("127.0.0.1:9000")!
    var relay = TransportAddress(ip: .v4(0), port: 0)
    let payload = ByteBuffer(repeating: 0x42, count: 100)
    let channelData: ByteBuffer

    init() {
        var framed = ByteBuffer()
        framed.writeInteger(UInt16(0x4000))
        framed.writeInteger(UInt16(100))
        framed.writeBytes(Array(repeating: UInt8(0x42), count: 100))
        channelData = framed
        var configuration = TURNConfiguration()
        configuration.relayIPv4 = .ipv4Loopback
        configuration.relayPorts = 50_000...50_999
        core = TURNServerCore(configuration: configuration, credentials: StaticCredentials(users: [("bench", "bench-password")]),
                              policy: try! PeerAddressPolicy.parse(allow: ["127.0.0.0/8"], deny: []), clock: BenchmarkClock())
        var actions: [TURNAction] = []
        func exchange(_ message: STUNMessage, key: IntegrityKey?) -> STUNMessage? {
            actions.removeAll()
            let bytes = message.encoded(options: .init(integrityKey: key, integrityAlgorithms: key == nil ? [] : [.sha1], fingerprint: true))
            core.handleClientMessage(try! STUNMessage(decoding: bytes), from: fiveTuple, into: &actions)
            for case .openRelay(let address, _) in actions {
                relay = address
                core.relayOpened(address, into: &actions)
            }
            for case .toClient(let reply, _) in actions { return try? STUNMessage(decoding: reply) }
            return nil
        }
        let challenge = exchange(STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                             attributes: [.requestedTransport(17)]), key: nil)!
        let realm = challenge.realm!, nonce = challenge.nonce!
        let key = IntegrityKey.longTerm(username: "bench", realm: realm, password: "bench-password", algorithm: .md5)
        func signed(_ method: STUNMethod, _ attributes: [STUNAttribute]) -> STUNMessage {
            STUNMessage(type: STUNMessageType(method: method, messageClass: .request),
                        attributes: attributes + [.username("bench"), .realm(realm), .nonce(nonce)])
        }
        _ = exchange(signed(.allocate, [.requestedTransport(17)]), key: key)
        _ = exchange(signed(.channelBind, [.channelNumber(0x4000), .xorPeerAddress(peer)]), key: key)
        // Prove the path before timing it.
        actions.removeAll()
        core.handleClientChannelData(channelData, from: fiveTuple, into: &actions)
        guard case .toPeer? = actions.first else { fatalError("the benchmark allocation does not relay: \(actions)") }
    }
}

/// A signaling core with one room of `size` sessions.
final class SignalingRoomSetup: @unchecked Sendable {
    let core = SignalingCore()
    var sessions: [String] = []
    var signal = ""
    var now = 1.0
    let broadcast = #"{"type":"broadcast","room":"bench","data":{"kind":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}}"#

    init(size: Int) {
        var actions: [SignalingCore.Action] = []
        for index in 0..<size {
            guard case .success(let id) = core.connect(identity: Identity(user: "user-\(index)"), host: "127.0.0.1", now: 0, into: &actions) else {
                fatalError("connect refused")
            }
            sessions.append(id)
            core.receive(#"{"type":"join","room":"bench"}"#, from: id, now: 0, into: &actions)
        }
        signal = #"{"type":"signal","room":"bench","to":"\#(sessions[1])","data":{"kind":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}}"#
    }
}

/// A clock that stands still: the benchmarks measure the core's work, not time passing.
struct BenchmarkClock: TURNClock {
    func now() -> Timestamp { Timestamp(nanoseconds: 1_000_000_000) }
    func unixSeconds() -> Int64 { 1_800_000_000 }
}
