import NIOCore
import STUN

/// Answers an Allocate that carries no credentials, the first request of every TURN client, with the core's 401
/// challenge without the core: the answer depends on nothing but the realm, a stateless nonce, the clock and the
/// client's address. A stream edge (TCP, TLS) answers it on the connection's own thread, so a `turns:` client's
/// challenge round costs no hop to the TURN loop and back, and a flood of unauthenticated requests over TCP never
/// reaches that loop.
///
/// It answers exactly what the core would: only a request whose attributes all decode (else 420 comes first) and
/// which has neither MESSAGE-INTEGRITY nor MESSAGE-INTEGRITY-SHA256, as `TURNServerCore.authenticate` would reject it
/// first thing. The core caches no challenge, so a retransmission gets a fresh one either way.
public struct StreamChallenger: Sendable {
    let authenticator: LongTermAuthenticator
    let software: String?
    let clock: any TURNClock

    /// Writes the challenge for `request` from `client` into `out` and returns true, or returns false when the
    /// request is not an unauthenticated Allocate and belongs to the core.
    public func challenge(_ request: STUNMessage, from client: TransportAddress, into out: inout ByteBuffer) -> Bool {
        guard request.type == STUNMessageType(method: .allocate, messageClass: .request),
              request.unknownComprehensionRequired.isEmpty,
              !request.contains(.messageIntegrity), !request.contains(.messageIntegritySHA256) else { return false }
        var response = request.errorResponse(.unauthorized,
                                             attributes: authenticator.challenge(for: client, unixTime: clock.unixSeconds()))
        if let software { response.append(.software(software)) }
        response.encode(into: &out, options: STUNMessage.EncodingOptions(integrityKey: nil, integrityAlgorithms: [.sha1],
                                                                         fingerprint: true))
        return true
    }
}

extension TURNServerCore {
    /// The core's challenge, for a stream edge to answer on its own thread (which counts what it answered, and adds
    /// it to the core's figures with `TURNCounters.addChallenges`).
    public var streamChallenger: StreamChallenger {
        StreamChallenger(authenticator: authenticator, software: configuration.software, clock: clock)
    }
}
