import Glibc
import KernelFastPath
import STUN
import TURN
import XCTest

/// The BPF program itself, on loopback with plain sockets: what it forwards, what it leaves to user space. Needs
/// root (CI runs as root); every server test with `--kernel-fastpath` builds on these.
final class KernelFastPathTests: XCTestCase {
    private var fastPath: KernelFastPath!

    override func setUpWithError() throws {
        switch KernelFastPath.load(routes: 8, addresses: [0x7F00_0001]) {
        case .success(let loaded): fastPath = loaded
        case .failure(let reason): XCTFail("the fast path must load here (root, Linux 6.6+): \(reason)")
        }
        try XCTSkipIf(fastPath == nil)
    }

    override func tearDown() {
        fastPath?.close()
    }

    /// Four sockets standing for the client, the server's listener, the relay socket and the peer.
    private struct Sockets {
        let client = UDPSocket(), server = UDPSocket(), relay = UDPSocket(), peer = UDPSocket()

        func route(channel: UInt16 = 0x4001, expiresIn seconds: Double = 60) -> ChannelRoute {
            ChannelRoute(fiveTuple: FiveTuple(client: client.address, server: server.address, transport: .udp),
                         channel: channel, relay: relay.address, peer: peer.address,
                         expiry: Timestamp(nanoseconds: monotonicNow() + UInt64(seconds * 1e9)), dontFragment: false)
        }
    }

    func testForwardsChannelDataToThePeerAndPeerDataBackAsChannelData() throws {
        let sockets = Sockets()
        let table = ChannelRouteTable(fastPath, slots: 0..<8)
        let route = sockets.route()
        table.install(route)
        XCTAssertEqual(table.count, 1)

        sockets.client.send([0x40, 0x01, 0x00, 0x05] + Array("hello".utf8), to: sockets.server.address)
        let atPeer = try XCTUnwrap(sockets.peer.receive())
        XCTAssertEqual(atPeer.bytes, Array("hello".utf8))
        XCTAssertEqual(atPeer.from, sockets.relay.address, "sent from the relayed address")
        XCTAssertNil(sockets.server.receive(timeout: 0.05), "user space never saw it")

        sockets.peer.send(Array("world!".utf8), to: sockets.relay.address)
        let atClient = try XCTUnwrap(sockets.client.receive())
        XCTAssertEqual(atClient.bytes, [0x40, 0x01, 0x00, 0x06] + Array("world!".utf8), "ChannelData, no padding over UDP")
        XCTAssertEqual(atClient.from, sockets.server.address, "from the address the client reached")
        XCTAssertNil(sockets.relay.receive(timeout: 0.05))

        var reported: [KernelRouteCounts] = []
        table.collect { _, counts in reported.append(counts) }
        XCTAssertEqual(reported, [KernelRouteCounts(bytesToPeer: 5, packetsToPeer: 1, bytesToClient: 6, packetsToClient: 1)])
        table.collect { _, counts in reported.append(counts) }
        XCTAssertEqual(reported.count, 1, "each packet is reported once")
        XCTAssertEqual(table.remove(route.key), KernelRouteCounts())
    }

    func testWhatTheProgramDoesNotOwnReachesUserSpaceUntouched() throws {
        let sockets = Sockets()
        let table = ChannelRouteTable(fastPath, slots: 0..<8)
        table.install(sockets.route(channel: 0x4001))
        let stranger = UDPSocket(ip: 0x7F00_0002)

        // Another channel number, a padded ChannelData, a STUN message, a stranger writing to the relay.
        let other: [UInt8] = [0x40, 0x02, 0x00, 0x01, 9]
        let padded: [UInt8] = [0x40, 0x01, 0x00, 0x01, 9, 0, 0, 0]
        let stun: [UInt8] = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + [UInt8](repeating: 7, count: 12)
        for datagram in [other, padded, stun] {
            sockets.client.send(datagram, to: sockets.server.address)
            XCTAssertEqual(sockets.server.receive()?.bytes, datagram)
        }
        stranger.send([1, 2, 3], to: sockets.relay.address)
        XCTAssertEqual(sockets.relay.receive()?.bytes, [1, 2, 3])
        XCTAssertEqual(sockets.relay.receive(timeout: 0.05)?.bytes, nil)
        XCTAssertNil(sockets.peer.receive(timeout: 0.05))
        XCTAssertNil(sockets.client.receive(timeout: 0.05))
    }

    func testExpiredRouteStopsForwardingAtOnce() throws {
        let sockets = Sockets()
        let table = ChannelRouteTable(fastPath, slots: 0..<8)
        let route = sockets.route(expiresIn: 0.3)
        table.install(route)
        sockets.peer.send([1], to: sockets.relay.address)
        XCTAssertEqual(sockets.client.receive()?.bytes, [0x40, 0x01, 0x00, 0x01, 1])
        usleep(400_000)
        // Past the expiry (a permission that was not refreshed): user space gets the datagram, as it came.
        sockets.peer.send([2], to: sockets.relay.address)
        XCTAssertEqual(sockets.relay.receive()?.bytes, [2])
        sockets.client.send([0x40, 0x01, 0x00, 0x01, 3], to: sockets.server.address)
        XCTAssertEqual(sockets.server.receive()?.bytes, [0x40, 0x01, 0x00, 0x01, 3])
        XCTAssertNil(sockets.client.receive(timeout: 0.05))
        XCTAssertNil(sockets.peer.receive(timeout: 0.05))

        // Refreshed: forwarded again, counters carried on.
        var refreshed = route
        refreshed.expiry = Timestamp(nanoseconds: monotonicNow() + 60_000_000_000)
        table.install(refreshed)
        sockets.peer.send([4], to: sockets.relay.address)
        XCTAssertEqual(sockets.client.receive()?.bytes, [0x40, 0x01, 0x00, 0x01, 4])
        XCTAssertEqual(table.remove(route.key), KernelRouteCounts(bytesToClient: 2, packetsToClient: 2))

        sockets.peer.send([5], to: sockets.relay.address)
        XCTAssertEqual(sockets.relay.receive()?.bytes, [5], "a removed route is user space's again")
    }

    /// The counters are per CPU (each CPU adds to its own copy); a read must sum every copy. On loopback the program
    /// runs on the sending CPU, so sending from each CPU in turn fills each copy.
    func testCountersSumWhatEveryCPUForwarded() throws {
        let sockets = Sockets()
        let table = ChannelRouteTable(fastPath, slots: 0..<8)
        let route = sockets.route()
        table.install(route)
        var original = cpu_set_t()
        // Without the thread's own mask to put back, pinning would leave every later test on one CPU.
        try XCTSkipUnless(Affinity.get(0, MemoryLayout<cpu_set_t>.size, &original) == 0, "sched_getaffinity failed")
        defer { _ = Affinity.set(0, MemoryLayout<cpu_set_t>.size, &original) }
        let cpus = (0..<Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))).filter(runOnCPU)
        XCTAssertFalse(cpus.isEmpty)
        let perCPU = 5
        for cpu in cpus {
            XCTAssertTrue(runOnCPU(cpu))
            for _ in 0..<perCPU {
                sockets.client.send([0x40, 0x01, 0x00, 0x03, 1, 2, 3], to: sockets.server.address)
                sockets.peer.send([9], to: sockets.relay.address)
            }
        }
        for _ in 0..<(perCPU * cpus.count) {
            XCTAssertEqual(sockets.peer.receive()?.bytes, [1, 2, 3])
            XCTAssertEqual(sockets.client.receive()?.bytes, [0x40, 0x01, 0x00, 0x01, 9])
        }
        let sent = perCPU * cpus.count
        XCTAssertEqual(table.remove(route.key), KernelRouteCounts(bytesToPeer: 3 * sent, packetsToPeer: sent,
                                                                  bytesToClient: sent, packetsToClient: sent))

        // A slot reused by the next route starts from zero on every CPU.
        let next = Sockets()
        let nextRoute = next.route()
        table.install(nextRoute)
        next.peer.send([7, 7], to: next.relay.address)
        XCTAssertEqual(next.client.receive()?.bytes, [0x40, 0x01, 0x00, 0x02, 7, 7])
        XCTAssertEqual(table.remove(nextRoute.key), KernelRouteCounts(bytesToClient: 2, packetsToClient: 1))
    }

    /// The program reads the kernel's coarse clock, which trails the exact one; routes are installed early enough
    /// (by at least 20 ms) that a route in its last milliseconds already leaves its datagrams to user space.
    func testRouteInItsLastMillisecondsIsUserSpaces() throws {
        let sockets = Sockets()
        let table = ChannelRouteTable(fastPath, slots: 0..<8)
        table.install(sockets.route(expiresIn: 0.015))
        sockets.peer.send([1], to: sockets.relay.address)
        XCTAssertEqual(sockets.relay.receive()?.bytes, [1])
        XCTAssertNil(sockets.client.receive(timeout: 0.05))
        table.removeAll()
    }

    func testFullTableRefusesAndTheRouteStaysInUserSpace() throws {
        let table = ChannelRouteTable(fastPath, slots: 0..<2)
        let sockets = (0..<3).map { _ in Sockets() }
        for socket in sockets { table.install(socket.route()) }
        XCTAssertEqual(table.count, 2)
        XCTAssertEqual(table.refused, 1)
        sockets[2].peer.send([1], to: sockets[2].relay.address)
        XCTAssertEqual(sockets[2].relay.receive()?.bytes, [1])
        table.removeAll()
        XCTAssertEqual(table.count, 0)
    }

    func testNoInterfaceCarryingTheAddressIsAClearFailure() {
        // 192.0.2.1 (TEST-NET-1) is on no interface here.
        guard case .failure(let reason) = KernelFastPath.load(routes: 8, addresses: [0xC000_0201]) else {
            return XCTFail("attached to nothing yet succeeded")
        }
        XCTAssertTrue("\(reason)".contains("no interface"), "\(reason)")
    }
}

/// sched_getaffinity and sched_setaffinity, which Swift's Glibc module leaves out (they need _GNU_SOURCE).
private enum Affinity {
    typealias Call = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    static let get = resolve("sched_getaffinity")
    static let set = resolve("sched_setaffinity")

    private static func resolve(_ name: String) -> Call {
        unsafeBitCast(dlsym(dlopen(nil, RTLD_NOW), name)!, to: Call.self)
    }
}

/// Moves the calling thread to `cpu` alone; false when that CPU is not available to it.
private func runOnCPU(_ cpu: Int) -> Bool {
    var set = cpu_set_t()
    withUnsafeMutableBytes(of: &set) { $0[cpu / 8] |= UInt8(1 << (cpu % 8)) }
    return Affinity.set(0, MemoryLayout<cpu_set_t>.size, &set) == 0
}

private func monotonicNow() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// A blocking UDP socket on loopback with a receive timeout.
private final class UDPSocket {
    let fd: Int32
    let address: TransportAddress

    init(ip: UInt32 = 0x7F00_0001) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = ip.bigEndian
        withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) } }
        address = TransportAddress(ip: .v4(ip), port: UInt16(bigEndian: local.sin_port))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to destination: TransportAddress) {
        guard case .v4(let ip) = destination.ip else { return }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = ip.bigEndian
        remote.sin_port = destination.port.bigEndian
        _ = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    func receive(timeout: Double = 1) -> (bytes: [UInt8], from: TransportAddress)? {
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 2048)
        var remote = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) }
            }
        }
        guard count >= 0 else { return nil }
        return (Array(buffer[..<count]), TransportAddress(ip: .v4(UInt32(bigEndian: remote.sin_addr.s_addr)),
                                                          port: UInt16(bigEndian: remote.sin_port)))
    }
}
