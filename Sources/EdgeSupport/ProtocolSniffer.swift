import NIOCore

/// Looks at a connection's first bytes and hands it, bytes included, to whoever serves that protocol: the start of
/// the one-port mux (`--mux-port`), where TLS, plain STUN/TURN and plain HTTP share a port.
///
/// It waits for `needed` bytes (or the stream's end), asks `route` to put the right handlers after it, passes what it
/// held on and leaves the pipeline. Bytes no route claims close the connection; so does silence past `deadline`.
/// While it waits the connection counts against `limiter` (per address and in total; over either it is closed at
/// once), since what it will be, and so whose bound it falls under, is not known yet.
package final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    /// Puts handlers for `first` after the sniffer; false when no protocol claims those bytes.
    package typealias Route = (_ first: ByteBuffer, _ channel: any Channel) throws -> Bool

    private let needed: Int
    private let deadline: TimeAmount
    private let route: Route
    private var held: ByteBuffer?
    private var timer = ChannelDeadline()
    private let limiter: ConnectionLimiter?
    private var ticket: ConnectionLimiter.Ticket?

    package init(needed: Int, deadline: TimeAmount = .seconds(10), limiter: ConnectionLimiter? = nil, route: @escaping Route) {
        self.needed = needed
        self.deadline = deadline
        self.limiter = limiter
        self.route = route
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if let limiter {
            guard case .success(let ticket) = limiter.admit(context.channel.remoteAddress) else {
                return context.close(promise: nil)
            }
            self.ticket = ticket
        }
        timer.arm(context, in: deadline)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        if let ticket, let limiter {
            limiter.release(ticket)
            self.ticket = nil
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if held == nil {
            held = bytes
        } else {
            held!.writeBuffer(&bytes)
        }
        if held!.readableBytes >= needed { decide(context: context) }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if held != nil { decide(context: context) } else { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func decide(context: ChannelHandlerContext) {
        guard let first = held else { return }
        held = nil
        timer.cancel()
        do {
            guard try route(first, context.channel) else {
                context.close(promise: nil)
                return
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(first))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// What the first bytes of a connection are.
package enum FirstBytes: Equatable, Sendable {
    case tls, stun, http, unknown

    /// Enough to tell: a TLS record header is 0x16 0x03; a STUN message starts with two zero bits and carries the
    /// magic cookie at offset 4; an HTTP request starts with an upper-case method letter. ChannelData (0x40–0x4F,
    /// like the letters A–O) cannot open a TURN connection, which must allocate first, so letters mean HTTP.
    package static let needed = 8

    package static func of(_ bytes: ByteBuffer) -> FirstBytes {
        let view = bytes.readableBytesView
        guard let first = view.first else { return .unknown }
        if first == 0x16, view.count >= 2, view[view.startIndex + 1] == 0x03 { return .tls }
        if first & 0xC0 == 0, view.count >= 8,
           Array(view[(view.startIndex + 4)..<(view.startIndex + 8)]) == [0x21, 0x12, 0xA4, 0x42] { return .stun }
        if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) { return .http }
        return .unknown
    }
}
