import NIOCore
import STUN

/// NAT mapping or filtering behaviour as RFC 4787 names it.
public enum NATBehaviour: String, Sendable, Codable {
    case endpointIndependent = "endpoint-independent"
    case addressDependent = "address-dependent"
    case addressAndPortDependent = "address-and-port-dependent"
}

/// What `switchboard stun` found out about the path to a server.
public struct NATReport: Sendable, Codable {
    public var server: String
    public var local: String
    public var mapped: String
    public var responseOrigin: String?
    public var otherAddress: String?
    public var software: String?
    public var roundTripMilliseconds: Double
    /// True when the server returned OTHER-ADDRESS, so the RFC 5780 tests could run.
    public var rfc5780: Bool
    public var mapping: NATBehaviour?
    public var filtering: NATBehaviour?
    /// Set when an RFC 5780 test could not complete (for example the alternate address did not answer).
    public var note: String?
}

/// RFC 5780 §4.3 (mapping) and §4.4 (filtering) behaviour discovery, from one local socket.
public struct NATBehaviourDiscovery: Sendable {
    public var server: TransportAddress
    /// Retransmissions for the basic test, whose silence means "server unreachable".
    public var policy: RetransmissionPolicy
    /// Retransmissions for the filtering tests, where silence is an expected answer and waiting 39.5 s is not useful.
    public var behaviourPolicy: RetransmissionPolicy

    public init(server: TransportAddress, policy: RetransmissionPolicy = .rfc8489,
                behaviourPolicy: RetransmissionPolicy = RetransmissionPolicy(initialRTO: .milliseconds(250), maxRequests: 4, finalWaitMultiplier: 4)) {
        self.server = server
        self.policy = policy
        self.behaviourPolicy = behaviourPolicy
    }

    public func run(client: STUNClient) async throws -> NATReport {
        let started = NIODeadline.now()
        let first = try await client.transact(STUNMessage(type: .bindingRequest), to: server, policy: policy)
        let rtt = Double((NIODeadline.now() - started).nanoseconds) / 1e6
        if let error = first.message.errorCode { throw STUNClientError.errorResponse(error) }
        guard let mapped = first.message.xorMappedAddress ?? first.message.mappedAddress else {
            throw STUNClientError.errorResponse(STUNErrorCode(code: 500, reason: "response has no mapped address"))
        }
        var report = NATReport(
            server: server.description, local: client.localAddress.description, mapped: mapped.description,
            responseOrigin: first.message.responseOrigin?.description, otherAddress: first.message.otherAddress?.description,
            software: first.message.software, roundTripMilliseconds: (rtt * 1000).rounded() / 1000, rfc5780: false)
        guard let other = first.message.otherAddress else { return report }
        report.rfc5780 = true

        // Mapping: does the mapping change when the destination IP, then the destination port, changes?
        do {
            let second = try await mappedAddress(client, to: TransportAddress(ip: other.ip, port: server.port))
            if second == mapped {
                report.mapping = .endpointIndependent
            } else {
                let third = try await mappedAddress(client, to: other)
                report.mapping = third == second ? .addressDependent : .addressAndPortDependent
            }
        } catch {
            report.note = "mapping test: the alternate address did not answer (\(error))"
        }

        // Filtering: does an answer from another IP and port, then from another port only, get through?
        if try await changeRequestAnswered(client, [.changeIP, .changePort]) {
            report.filtering = .endpointIndependent
        } else if try await changeRequestAnswered(client, [.changePort]) {
            report.filtering = .addressDependent
        } else {
            report.filtering = .addressAndPortDependent
        }
        return report
    }

    private func mappedAddress(_ client: STUNClient, to destination: TransportAddress) async throws -> TransportAddress {
        let response = try await client.transact(STUNMessage(type: .bindingRequest), to: destination, policy: behaviourPolicy)
        if let error = response.message.errorCode { throw STUNClientError.errorResponse(error) }
        guard let mapped = response.message.xorMappedAddress ?? response.message.mappedAddress else {
            throw STUNClientError.errorResponse(STUNErrorCode(code: 500, reason: "response has no mapped address"))
        }
        return mapped
    }

    private func changeRequestAnswered(_ client: STUNClient, _ change: ChangeRequest) async throws -> Bool {
        let request = STUNMessage(type: .bindingRequest, attributes: [.changeRequest(change)])
        do {
            let response = try await client.transact(request, to: server, policy: behaviourPolicy)
            if let error = response.message.errorCode { throw STUNClientError.errorResponse(error) }
            return true
        } catch STUNClientError.timedOut {
            return false
        }
    }
}
