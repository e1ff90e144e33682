import ArgumentParser
import Foundation
import NIOCore
import STUN
import SwitchboardClient

struct Stun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a STUN server for this host's mapped address and, against an RFC 5780 server, the NAT behaviour.",
        discussion: """
            Exit status: 0 on an answer, 1 when the server does not answer (after RFC 8489 retransmissions), \
            3 on an error response or an unresolvable host.
            """)

    @Argument(help: "Server as HOST[:PORT] or [IPv6]:PORT (default port 3478).") var server: String
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Initial retransmission timeout in milliseconds (RFC 8489: 500).") var rto: Int64 = 500
    @Option(help: "Requests sent before giving up (RFC 8489 Rc: 7).") var requests: Int = 7
    @Option(help: "Local address to send from.") var local: String = "0.0.0.0:0"

    func run() async throws {
        let serverAddress: TransportAddress
        do {
            serverAddress = try TransportAddress.resolve(server, defaultPort: 3478)
        } catch {
            fail("\(error)", code: 3)
        }
        guard var localAddress = TransportAddress(local, defaultPort: 0) else { throw ValidationError("bad --local \(local)") }
        if case .v6 = serverAddress.ip, case .v4(0) = localAddress.ip { localAddress.ip = .v6(high: 0, low: 0) }
        let policy = RetransmissionPolicy(initialRTO: .milliseconds(rto), maxRequests: requests, finalWaitMultiplier: 16)
        let client = try await STUNClient.open(local: localAddress)
        defer { Task { await client.close() } }
        do {
            let report = try await NATBehaviourDiscovery(server: serverAddress, policy: policy).run(client: client)
            await client.close()
            print(json ? toJSON(report) : toText(report))
        } catch let error as STUNClientError {
            await client.close()
            if case .timedOut = error { fail("\(error)", code: 1) }
            fail("\(error)", code: 3)
        }
    }

    private func fail(_ message: String, code: Int32) -> Never {
        if json {
            print(#"{"error":\#(jsonString(message))}"#)
        } else {
            FileHandle.standardError.write(Data("switchboard stun: \(message)\n".utf8))
        }
        Foundation.exit(code)
    }

    private func jsonString(_ text: String) -> String {
        String(data: try! JSONEncoder().encode(text), encoding: .utf8)!
    }

    private func toJSON(_ report: NATReport) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(data: try! encoder.encode(report), encoding: .utf8)!
    }

    private func toText(_ report: NATReport) -> String {
        var lines: [(String, String)] = [
            ("server", report.server), ("local", report.local), ("mapped address", report.mapped),
        ]
        if let origin = report.responseOrigin { lines.append(("response origin", origin)) }
        if let other = report.otherAddress { lines.append(("other address", other)) }
        if let software = report.software { lines.append(("software", software)) }
        lines.append(("round trip", "\(report.roundTripMilliseconds) ms"))
        if report.rfc5780 {
            lines.append(("nat mapping", report.mapping?.rawValue ?? "unknown"))
            lines.append(("nat filtering", report.filtering?.rawValue ?? "unknown"))
        } else {
            lines.append(("rfc 5780", "not supported by the server (no OTHER-ADDRESS): NAT behaviour not tested"))
        }
        if let note = report.note { lines.append(("note", note)) }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
