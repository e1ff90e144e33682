import ArgumentParser
import Foundation
import NIOCore
import NIOSSL
import STUN
import SwitchboardClient
import TURN

struct TurnCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "turn-check",
        abstract: "Allocate on a TURN server and relay a round trip through it.",
        discussion: """
            Makes two allocations from two local sockets (or TCP or TLS connections, as the URL says), gives each a permission for the other's relayed address, \
            binds a channel from the first to the second, and times packets that go out through the first relay \
            (ChannelData), arrive at the second (Data indication) and come back (Send indication → ChannelData). \
            For turns:, the server's certificate is checked against the system's roots (or --ca-file); the name \
            too unless the host is an IP address. \
            The server must allow relaying between its own relay addresses (coturn: allow-loopback-peers on \
            loopback; switchboard: --allow-peer 127.0.0.0/8). Exit status: 0 on success, 1 on no answer, 3 on \
            error responses or lost packets.
            """)

    @Argument(help: "turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]") var url: String
    @Option(help: "Long-term username.") var user: String?
    @Option(help: "Long-term password.") var password: String?
    @Option(help: "TURN REST shared secret: a username and password are derived from it.") var secret: String?
    @Option(help: "Round trips to time.") var count: Int = 5
    @Option(help: "turns: trust the certificates in this PEM file instead of the system's roots.") var caFile: String?
    @Flag(help: "turns: accept any certificate (a self-signed test server).") var insecure = false
    @Flag(help: "Print a JSON report.") var json = false

    struct Report: Codable {
        var server: String
        var transport: String
        var tls: String?
        var username: String
        var relayed: [String]
        var peerRelayed: [String]
        var mapped: String?
        var lifetime: UInt32
        var roundTrips: Int
        var received: Int
        var medianRoundTripMilliseconds: Double?
    }

    func run() async throws {
        let parsed: TURNServerURL
        do {
            parsed = try TURNServerURL(url)
        } catch {
            throw ValidationError(error.description)
        }
        let server: TransportAddress
        do {
            server = try TransportAddress.resolve(parsed.host.contains(":") ? "[\(parsed.host)]" : parsed.host,
                                                  defaultPort: parsed.port)
        } catch {
            fail("\(error)", code: 3)
        }
        let username: String
        let credential: String
        if let secret {
            let generated = RESTCredential.generate(secret: secret, user: user ?? "turn-check", ttl: 3600,
                                                    unixTime: Int64(Date().timeIntervalSince1970))
            username = generated.username
            credential = generated.password
        } else if let user, let password {
            username = user
            credential = password
        } else {
            throw ValidationError("give --user and --password, or --secret")
        }

        let first: TURNClient
        let second: TURNClient
        do {
            first = TURNClient(username: username, password: credential, transport: try await transport(parsed, server))
            second = TURNClient(username: username, password: credential, transport: try await transport(parsed, server))
        } catch let error as STUNClientError {
            fail("\(error)", code: 1)
        } catch let error as NIOSSLError {
            if case .handshakeFailed = error, "\(error)".contains("CERTIFICATE_VERIFY_FAILED") {
                fail("the certificate of \(server) is not trusted (give --ca-file with its issuer, or --insecure for a test server): \(error)", code: 3)
            }
            fail("TLS with \(server) failed: \(error)", code: 3)
        } catch {
            fail("cannot reach \(server) over \(parsed.transport): \(error)", code: 1)
        }
        defer {
            Task {
                await first.close()
                await second.close()
            }
        }
        do {
            let a = try await first.allocate()
            let b = try await second.allocate()
            guard let relayA = a.relayed.first, let relayB = b.relayed.first else {
                fail("the server returned no XOR-RELAYED-ADDRESS", code: 3)
            }
            try await first.createPermission([relayB])
            try await second.createPermission([relayA])
            let channel: UInt16 = 0x4000
            try await first.bindChannel(channel, to: relayB)

            var timings: [Double] = []
            for index in 0..<count {
                let payload = ByteBuffer(string: "switchboard turn-check \(index)")
                let started = DispatchTime.now().uptimeNanoseconds
                try await first.send(payload, onChannel: channel)
                guard let atB = try await second.nextRelayedData(timeout: .seconds(2)), atB.peer == relayA, atB.data == payload else { continue }
                try await second.send(payload, to: relayA)
                guard let back = try await first.nextRelayedData(timeout: .seconds(2)), back.channel == channel, back.data == payload else { continue }
                timings.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
            }
            _ = try? await first.refresh(lifetime: 0)
            _ = try? await second.refresh(lifetime: 0)
            let median = timings.sorted().dropFirst(timings.count / 2).first
            let report = Report(server: server.description, transport: parsed.transport.rawValue,
                                tls: (first.transport as? STUNStreamClient)?.tlsVersion, username: username, relayed: a.relayed.map(\.description),
                                peerRelayed: b.relayed.map(\.description), mapped: a.mapped?.description,
                                lifetime: a.lifetime, roundTrips: count, received: timings.count,
                                medianRoundTripMilliseconds: median.map { ($0 * 1000).rounded() / 1000 })
            print(json ? encode(report) : describe(report))
            if timings.count < count { Foundation.exit(3) }
        } catch let error as STUNClientError {
            if case .timedOut = error { fail("\(error)", code: 1) }
            fail("\(error)", code: 3)
        }
    }

    /// A connection to `server` the way the URL says: a UDP socket, a TCP connection, or TLS over TCP.
    private func transport(_ url: TURNServerURL, _ server: TransportAddress) async throws -> any TURNTransport {
        switch url.transport {
        case .udp:
            let local = TransportAddress(ip: server.ip.family == .ipv4 ? .v4(0) : .v6(high: 0, low: 0), port: 0)
            return DatagramTURNTransport(stun: try await STUNClient.open(local: local), server: server)
        case .tcp:
            return try await STUNStreamClient.connect(to: server)
        case .tls:
            let roots: NIOSSLTrustRoots = caFile.map { .file($0) } ?? .default
            return try await STUNStreamClient.connect(
                to: server, tls: STUNStreamClient.TLS(host: url.host, verify: !insecure, trustRoots: roots))
        }
    }

    private func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("switchboard turn-check: \(message)\n".utf8))
        Foundation.exit(code)
    }

    private func encode(_ report: Report) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(data: try! encoder.encode(report), encoding: .utf8)!
    }

    private func describe(_ report: Report) -> String {
        var lines = [
            "server          \(report.server) over \(report.transport)\(report.tls.map { " (\($0))" } ?? "")",
            "username        \(report.username)",
            "relayed address \(report.relayed.joined(separator: ", "))",
            "peer relay      \(report.peerRelayed.joined(separator: ", "))",
        ]
        if let mapped = report.mapped { lines.append("mapped address  \(mapped)") }
        lines.append("lifetime        \(report.lifetime) s")
        lines.append("round trips     \(report.received)/\(report.roundTrips) through the relay")
        if let median = report.medianRoundTripMilliseconds { lines.append("relay rtt       \(median) ms (median)") }
        return lines.joined(separator: "\n")
    }
}
