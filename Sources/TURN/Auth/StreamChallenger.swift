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
/// first thing. The core caches no challenge, so a retransmission gets a fresh one either way. One difference: the
/// core looks in its response cache before anything else, so a request reusing the transaction ID of an answered
/// one on the same connection gets that answer from the core and a 401 from here; clients do not retransmit over a
/// stream, and an unsigned request with a signed request's ID is not a retransmission.
public struct StreamChallenger: Sendable {
    let authenticator: LongTermAuthenticator
    let software: String?
    let clock: any TURNClock

    /// The encoded challenge for `request` from `client`, or nil when the request is not an unauthenticated Allocate
    /// and belongs to the core (nothing is allocated then: Send indications pass here too).
    public func challenge(_ request: STUNMessage, from client: TransportAddress) -> ByteBuffer? {
        answers(request) ? makeChallenge(to: request, from: client) : nil
    }

    /// The encoded challenge for `request`, which `answers` has accepted.
    public func makeChallenge(to request: STUNMessage, from client: TransportAddress) -> ByteBuffer {
        let response = request.errorResponse(.unauthorized,
                                             attributes: authenticator.challenge(for: client, unixTime: clock.unixSeconds()))
        var out = ByteBufferAllocator().buffer(capacity: 160)
        TURNServerCore.encode(response, software: software, auth: nil, into: &out)
        return out
    }

    /// Whether `request` is one this answers (an unauthenticated Allocate), without making the answer: an edge that
    /// would drop the answer anyway skips `makeChallenge`.
    public func answers(_ request: STUNMessage) -> Bool {
        request.type == STUNMessageType(method: .allocate, messageClass: .request)
            && request.unknownComprehensionRequired.isEmpty
            && !request.contains(.messageIntegrity) && !request.contains(.messageIntegritySHA256)
    }
}

extension TURNServerCore {
    /// The core's challenge, for a stream edge to answer on its own thread (which counts what it answered, and adds
    /// it to the core's figures with `TURNCounters.addChallenges`).
    public var streamChallenger: StreamChallenger {
        StreamChallenger(authenticator: authenticator, software: configuration.software, clock: clock)
    }
}
