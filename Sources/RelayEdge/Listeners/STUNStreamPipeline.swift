import EdgeSupport
import NIOCore
import NIOSSL
import STUN
import TURN

/// What a STUN/TURN stream connection (TCP or TLS) gets in its pipeline, made once the listeners are bound (the
/// responder needs their addresses). The TCP and TLS listeners install it on every connection they accept, and the
/// one-port mux on each connection it recognises as STUN.
package struct STUNStreamPipeline: Sendable {
    let responder: BindingResponder
    let counters: STUNCounters
    let connections: ConnectionLimiter
    let idle: TimeAmount
    let turn: TURNEdgeHandle?
    /// The TURN core's 401 to an Allocate without credentials, answered on the connection's thread.
    let challenger: StreamChallenger?

    /// Adds, after whatever is already there: the TLS handshake when `tls` is given (bounded in time), then framing,
    /// the idle timeout and the handler that routes what arrives. `decrypted`: a TLS handler is in front already
    /// (the one-port mux's), so the connection counts as TLS.
    package func install(on channel: any Channel, tls: NIOSSLContext?, decrypted: Bool = false) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tls {
            try pipeline.addHandlers([NIOSSLServerHandler(context: tls), TLSHandshakeDeadline()])
        }
        try pipeline.addHandlers([
            IdleStateHandler(readTimeout: idle),
            ByteToMessageHandler(STUNStreamFramer()),
            STUNStreamHandler(responder: responder, counters: counters, connections: connections, turn: turn,
                              challenger: challenger, transport: tls == nil && !decrypted ? .tcp : .tls),
        ])
    }
}
