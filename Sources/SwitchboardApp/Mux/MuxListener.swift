import EdgeSupport
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RelayEdge
import SignalingEdge
import STUN

/// One port for everything (`--mux-port`, 443 in the docs), for networks that let only that port through.
///
/// Each connection is sorted by its first bytes (`FirstBytes`): plain STUN/TURN gets the STUN stream pipeline, plain
/// HTTP the signaling routes. TLS is terminated here, and what arrives inside it is sorted again: STUN/TURN over TLS
/// (`turns:` on this port) or HTTPS and WSS. Sorting by content rather than by ALPN alone serves TURN clients that
/// send no ALPN (most do not), while ALPN (`stun.turn`, RFC 7443, and `http/1.1`) is still answered for those that do.
enum MuxListener {
    /// `sorting`: the bound on connections whose first bytes have not decided yet what they are.
    static func bind(_ address: TransportAddress, group: any EventLoopGroup, relay: STUNStreamPipeline,
                     http: SignalingHTTPServer, tls: TLSContextSource?,
                     sorting: ConnectionLimiter) async throws -> (any Channel, TransportAddress) {
        let channel = try await ListenerStartError.naming("mux", address) { try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProtocolSniffer(needed: FirstBytes.needed, limiter: sorting) { first, channel in
                        switch FirstBytes.of(first) {
                        case .stun:
                            try relay.install(on: channel, tls: nil)
                        case .http:
                            http.adopt(channel)
                        case .tls:
                            guard let tls else { return false }
                            try channel.pipeline.syncOperations.addHandlers([
                                NIOSSLServerHandler(context: tls.current), TLSHandshakeDeadline(),
                                ProtocolSniffer(needed: FirstBytes.needed, limiter: sorting) { inner, channel in
                                    switch FirstBytes.of(inner) {
                                    case .stun: try relay.install(on: channel, tls: nil, decrypted: true)
                                    case .http: http.adopt(channel)
                                    case .tls, .unknown: return false
                                    }
                                    return true
                                },
                            ])
                        case .unknown:
                            return false
                        }
                        return true
                    })
                }
            }
            .bind(to: address.socketAddress).get() }
        return (channel, try ListenerStartError.boundAddress(of: channel, listener: "mux", requested: address))
    }
}
